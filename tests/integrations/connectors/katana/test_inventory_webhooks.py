"""Katana inventory webhooks (reference §1.5: current_inventory.product_updated / product_out_of_stock): the changed
variant is re-read at once by a targeted inventory pull, outside the inventory buffer, so the new figure reaches the
channels in seconds instead of on the next buffered poll."""
import hashlib
import hmac
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from integrations.models import FlowState, SyncRun
from inventory.models import InventoryLevel, Location

from integrations.connectors.katana import emulator as emu

from .conftest import BASE, run_flow, settings_set

pytestmark = pytest.mark.django_db


@pytest.fixture
def hooked(katana_integration):
    settings_set(katana_integration, webhooks_enabled=True)
    katana_integration.set_credentials(katana_integration.get_credentials() | {"webhook_token": "tok"})
    katana_integration.save()
    return katana_integration


def _post(client, integration, action, object_id=5511, token="tok"):
    body = json.dumps({"resource_type": "current_inventory", "action": action, "webhook_id": 9,
                       "object": {"id": object_id, "href": "https://evil.example/x"}}).encode()
    sig = hmac.new(token.encode(), body, hashlib.sha256).hexdigest()
    return client.post(reverse("integrations:katana:webhook", args=[integration.pk]), data=body,
                       content_type="application/json", HTTP_X_SHA2_SIGNATURE=sig)


def test_inventory_events_queue_a_targeted_read_of_the_variant(client, hooked):
    assert _post(client, hooked, "current_inventory.product_updated").status_code == 202
    assert _post(client, hooked, "current_inventory.product_out_of_stock", object_id=5512).status_code == 202
    assert _post(client, hooked, "current_inventory.product_updated").status_code == 202  # a repeat merges

    state = FlowState.objects.get(integration=hooked, flow="pull_inventory")
    assert state.pending_params == {"variant_ids": ["5511", "5512"]}


def test_inventory_event_with_the_pull_off_queues_nothing(client, hooked):
    FlowState.objects.filter(integration=hooked, flow="pull_inventory").update(enabled=False)

    answer = _post(client, hooked, "current_inventory.product_updated")

    assert answer.status_code == 200
    assert FlowState.objects.get(integration=hooked, flow="pull_inventory").pending_params == {}


def test_inventory_event_without_a_numeric_id_is_ignored(client, hooked):
    assert _post(client, hooked, "current_inventory.product_updated", object_id="x").status_code == 200
    assert FlowState.objects.get(integration=hooked, flow="pull_inventory").pending_params == {}


def test_targeted_read_ignores_the_buffer_reads_only_those_variants_and_keeps_the_cursor(
        katana_integration, katana_api, products):
    # given: a full read just happened, so the buffer holds the next scheduled one back
    katana_api.fixture("GET", "/locations", "locations.json")
    run_flow(katana_integration, "pull_locations")
    katana_api.fixture("GET", "/inventory", "inventory__page.json")
    run_flow(katana_integration, "pull_inventory")
    cursor = FlowState.objects.get(integration=katana_integration, flow="pull_inventory").cursor
    InventoryLevel.objects.filter(product=products[0]).update(fulfillable=1, available=1)
    # when
    run = run_flow(katana_integration, "pull_inventory", trigger="webhook", params={"variant_ids": ["5511"]})
    # then
    assert (run.status, run.updated) == (SyncRun.Status.SUCCEEDED, 2)
    query = parse_qs(urlsplit(katana_api.calls_to("/inventory")[-1].request.url).query)
    assert query["variant_id"] == ["5511"] and query["extend"] == ["variant"]
    location = Location.objects.get(integration=katana_integration)
    assert InventoryLevel.objects.get(location=location, product=products[0]).available == 37
    assert FlowState.objects.get(integration=katana_integration, flow="pull_inventory").cursor == cursor
    assert len(katana_api.calls_to("/inventory")) == 2


def test_emulator_announces_a_stock_change_and_answers_for_that_variant_only(emulator, responses,
                                                                           django_capture_on_commit_callbacks):
    # given
    hook = "https://hub.example/integrations/katana/webhook/1/"
    emulator.webhook_url, emulator.webhook_token = hook, "tok"
    emulator.save()
    received = []
    responses.add_callback("POST", hook, callback=lambda r: received.append(r) or (202, {}, b""))
    variant = next(o.data for o in emulator.emu_objects.filter(kind="variant") if o.data["sku"] == "SKU-2")
    location = emu._default_location(emulator)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        emu.emulator_set_stock(account=emulator, sku="SKU-2", location_id=location, in_stock=7)
    # then
    assert [json.loads(r.body) for r in received] == [{
        "resource_type": "current_inventory", "action": "current_inventory.product_updated", "webhook_id": emulator.pk,
        "object": {"id": variant["id"], "href": f"/v1/inventory?variant_id={variant['id']}"}}]
    import requests

    rows = requests.get(f"{BASE}/inventory", params={"variant_id": [variant["id"]]},
                        headers={"Authorization": f"Bearer {emulator.api_key}"}, timeout=5).json()["data"]
    assert [(r["variant_id"], r["quantity_in_stock"]) for r in rows] == [(variant["id"], "7.00000")]
