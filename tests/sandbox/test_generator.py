from collections import Counter

import pytest
from django.core.management import CommandError, call_command

from integrations.sandbox.generator import orders_generate
from integrations.sandbox.models import EmuOrder, EmuSku


def test_generator_places_orders_with_sku_mix_and_shares(emu_shop):
    EmuSku.objects.filter(seller_sku="TEE-BLK-M").update(weight=9)
    result = orders_generate(shop=emu_shop, count=60, cancel_share=0.5, edit_share=0.0, return_share=0, seed=7)
    assert result.created == 60 and EmuOrder.objects.filter(shop=emu_shop, status="UNPAID").count() == 60
    skus = Counter(line["seller_sku"] for o in EmuOrder.objects.all() for line in o.data["line_items"])
    assert skus["TEE-BLK-M"] > skus["TEE-BLK-L"]
    scheduled_cancels = sum(1 for o in EmuOrder.objects.all() if any(a == "buyer_cancel" for _, a in o.events))
    assert scheduled_cancels == result.cancels and 15 <= result.cancels <= 45


def test_generator_spreads_orders_over_time(emu_shop):
    orders_generate(shop=emu_shop, count=3, per_minute=6, seed=1)
    times = sorted(EmuOrder.objects.values_list("create_time", flat=True))
    assert times[1] - times[0] == 10 and times[2] - times[0] == 20


def test_generator_rejects_bad_shares(emu_shop):
    with pytest.raises(ValueError):
        orders_generate(shop=emu_shop, count=1, cancel_share=2)
    assert not EmuOrder.objects.exists()


def test_sandbox_traffic_command(emu_shop, capsys):
    call_command("sandbox_traffic", "--orders", "4", "--shop", "Sandbox US", "--cancel-share", "0", "--seed", "3")
    assert EmuOrder.objects.filter(shop=emu_shop).count() == 4
    assert "Sandbox US: 4 orders" in capsys.readouterr().out
    with pytest.raises(CommandError):
        call_command("sandbox_traffic", "--orders", "1", "--shop", "Nope")
