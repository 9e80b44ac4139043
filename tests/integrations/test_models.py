import pytest
from django.db import IntegrityError, transaction

from integrations import services
from integrations.models import ExternalRef, Integration, Mapping, OpsException

pytestmark = pytest.mark.django_db


def test_setting_falls_back_to_the_connector_default(fake_integration):
    assert fake_integration.setting("statuses") == ["a"]
    services.integration_update_settings(integration=fake_integration, values={"statuses": ["b"]})
    assert Integration.objects.get().setting("statuses") == ["b"]


def test_credentials_round_trip_and_blank_values_are_dropped(fake_integration):
    fake_integration.set_credentials({"api_key": "k", "api_secret": ""})
    assert fake_integration.get_credentials() == {"api_key": "k"}


def test_external_ref_unique_per_integration_kind_and_id(fake_integration):
    ExternalRef.objects.create(integration=fake_integration, kind="order", external_id="1")
    ExternalRef.objects.create(integration=fake_integration, kind="product", external_id="1")
    with pytest.raises(IntegrityError), transaction.atomic():
        ExternalRef.objects.create(integration=fake_integration, kind="order", external_id="1")
    assert ExternalRef.objects.count() == 2


def test_mapping_unique_per_integration_kind_and_source(fake_integration):
    Mapping.objects.create(integration=fake_integration, kind="carrier", source="UPS", target="ups")
    with pytest.raises(IntegrityError), transaction.atomic():
        Mapping.objects.create(integration=fake_integration, kind="carrier", source="UPS", target="other")
    assert Mapping.objects.get().target == "ups"


def test_one_open_exception_per_dedup_key_and_reopen_after_resolve(fake_integration):
    first = services.exception_raise(category="ingestion", code="unknown_sku", message="m", dedup_key="sku:X")
    again = services.exception_raise(category="ingestion", code="unknown_sku", message="m2", dedup_key="sku:X")
    assert first.pk == again.pk and again.count == 2
    services.exceptions_resolve(dedup_keys=["sku:X"])
    reopened = services.exception_raise(category="ingestion", code="unknown_sku", message="m3", dedup_key="sku:X")
    assert reopened.pk != first.pk
    assert list(OpsException.objects.order_by("pk").values_list("status", flat=True)) == ["resolved", "open"]


def test_flow_states_follow_their_enable_setting(fake_integration):
    state = fake_integration.flow_states.get()
    assert state.enabled is True
    services.integration_update_settings(integration=fake_integration, values={"pull_things": False})
    state.refresh_from_db()
    assert state.enabled is False


def test_sku_mapping_source_and_target_are_normalised_when_saved(fake_integration):
    sku = Mapping.objects.create(integration=fake_integration, kind="sku", source="\u200bＳＫＵ-１\u200e ", target="\ufeffM-1")
    other = Mapping.objects.create(integration=fake_integration, kind="attribute", source="Ｃｏｌｏｒ", target="colour")
    assert (Mapping.objects.get(pk=sku.pk).source, Mapping.objects.get(pk=sku.pk).target) == ("SKU-1", "M-1")
    assert Mapping.objects.get(pk=other.pk).source == "Ｃｏｌｏｒ"
