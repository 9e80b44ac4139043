"""What the back office shows from TikTok without calling it: the Seller Center order link and the shipping
providers (remembered by push_fulfillments) suggested as carrier mapping targets."""
import pytest

from integrations.connectors.tiktok import backoffice
from integrations.forms import MappingForm
from integrations.models import Integration, Mapping
from orders.admin import channel_order_url
from tests.integrations.connectors.tiktok.test_flows_push import MARK, PROVIDERS, order, push, ship, three_pl_connector  # noqa: F401

pytestmark = pytest.mark.django_db


def test_push_fulfillments_remembers_providers_and_the_mapping_form_suggests_them(tiktok_integration, tiktok_api, order):  # noqa: F811
    # given: a fulfillment pushed, so TikTok's provider list for the order's delivery option was read
    tiktok_api.fixture("GET", PROVIDERS, "shipping_providers__us.json")
    tiktok_api.fixture("POST", MARK, "mark_package_shipped__ok.json")
    ship(order, "F1", [("TEE-BLK-L", 1)])
    push(tiktok_integration, "push_fulfillments")
    tiktok_api.mock.calls.reset()
    # when: the carrier mapping form is rendered
    form = MappingForm(initial={"integration": tiktok_integration.pk, "kind": "carrier"})
    html = str(form["target"])
    # then: the providers are offered, with no call to TikTok, and the token state is intact
    assert '<option value="DHL eCommerce">DHL eCommerce (provider 6617675021119438852)</option>' in html
    assert '<option value="USPS">USPS (provider 6617675021119438849)</option>' in html
    assert "4 known value(s) are suggested." in form.fields["target"].help_text
    assert len(tiktok_api.mock.calls) == 0
    state = Integration.objects.get(pk=tiktok_integration.pk).remote_state
    assert state["shop_cipher"] and state["access_token_expires_at"]
    assert state["shipping_providers"]["options"]["7129736823457654571"][0] == ["6617675021119438849", "USPS"]
    assert backoffice.mapping_targets(tiktok_integration, "payment_method") == []


def test_nothing_remembered_leaves_free_text_with_help(tiktok_integration, tiktok_api):
    form = MappingForm(initial={"integration": tiktok_integration.pk, "kind": "carrier"})
    assert "<datalist" not in str(form["target"])
    assert "type the provider's name as TikTok shows it" in form.fields["target"].help_text
    assert len(tiktok_api.mock.calls) == 0
    # free text is accepted (not strict: a provider not read yet may still be valid)
    bound = MappingForm(data={"integration": tiktok_integration.pk, "kind": "carrier", "source": "USPS", "target": "USPS", "notes": ""})
    assert bound.is_valid(), bound.errors


def test_remember_keeps_other_state_and_bounds_the_options(tiktok_integration, monkeypatch):
    monkeypatch.setattr(backoffice, "PROVIDERS_KEPT", 2)
    for option in ("A", "B", "C"):
        backoffice.shipping_providers_remember(integration=tiktok_integration, delivery_option_id=option,
                                               providers=[{"id": f"{option}1", "name": f"Carrier {option}"}])
    backoffice.shipping_providers_remember(integration=tiktok_integration, delivery_option_id="", providers=[{"id": "x"}])
    state = Integration.objects.get(pk=tiktok_integration.pk).remote_state
    assert list(state["shipping_providers"]["options"]) == ["B", "C"]
    assert state["shop_region"] == "US"
    assert backoffice.mapping_targets(tiktok_integration, "carrier") == [("Carrier B", "Carrier B (provider B1)"),
                                                                          ("Carrier C", "Carrier C (provider C1)")]


def _order(integration, external_id="576812345678901234"):
    from orders.models import Order

    return Order(integration=integration, external_id=external_id)


def test_order_links_to_seller_center_by_shop_region(tiktok_integration):
    assert channel_order_url(_order(tiktok_integration)) == \
        "https://seller-us.tiktok.com/order/detail?order_no=576812345678901234&shop_region=US"
    tiktok_integration.remote_state = {**tiktok_integration.remote_state, "shop_region": "GB"}
    assert channel_order_url(_order(tiktok_integration, "5&x=1")) == \
        "https://seller-uk.tiktok.com/order/detail?order_no=5%26x%3D1&shop_region=GB"


def test_no_order_link_for_the_sandbox(tiktok_integration):
    tiktok_integration.environment = "sandbox"
    assert channel_order_url(_order(tiktok_integration)) == ""
    assert not Mapping.objects.exists()
