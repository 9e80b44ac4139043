"""Acumatica mapping targets suggested without a call: Ship Via codes on its shipments, values already mapped."""
import pytest

from integrations.connectors.acumatica.backoffice import mapping_targets
from integrations.forms import MappingForm
from integrations.models import Mapping

pytestmark = pytest.mark.django_db


def test_ship_via_codes_from_shipments_and_mappings(acu_integration, responses, django_assert_max_num_queries):
    from orders.models import Fulfillment, Order

    order = Order.objects.create(integration=acu_integration, external_id="O-1")
    for i, code in enumerate(["UPSGROUND", "UPSGROUND", "", "FEDEX2DAY"]):
        Fulfillment.objects.create(order=order, integration=acu_integration, external_id=f"S{i}", shipping_method=code)
    Mapping.objects.create(integration=acu_integration, kind="shipping_method", source="Standard", target="UPSGROUND")
    Mapping.objects.create(integration=acu_integration, kind="shipping_method", source="Express", target="DHLX")
    Mapping.objects.create(integration=acu_integration, kind="payment_method", source="*", target="TTS")
    with django_assert_max_num_queries(2):
        targets = mapping_targets(acu_integration, "shipping_method")
    assert targets == [("DHLX", "DHLX (already mapped)"), ("FEDEX2DAY", "FEDEX2DAY (Ship Via on Acumatica shipments)"),
                       ("UPSGROUND", "UPSGROUND (Ship Via on Acumatica shipments)")]
    assert mapping_targets(acu_integration, "payment_method") == [("TTS", "TTS (already mapped)")]
    assert mapping_targets(acu_integration, "carrier") == []
    form = MappingForm(initial={"integration": acu_integration.pk, "kind": "shipping_method"})
    assert '<option value="FEDEX2DAY">' in str(form["target"])
    assert "Ship Via Codes (CS207500)" in form.fields["target"].help_text
    assert len(responses.calls) == 0
