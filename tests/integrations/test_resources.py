"""Mapping resource and the shared bulk building blocks (SafeCSV escaping)."""
import pytest
import tablib

from integrations import services
from integrations.models import Mapping
from import_export.formats import base_formats

from integrations.resources import MappingResource, SafeCSV


def csv_dataset(text: str) -> tablib.Dataset:
    return SafeCSV().create_dataset(text)


def errors_of(result):
    return [(row.number, {k: [str(e) for e in v] for k, v in row.error.message_dict.items()}) for row in result.invalid_rows]


@pytest.fixture
def shop(fake_integration):
    return fake_integration


def test_mappings_round_trip_and_never_export_credentials(shop):
    # given
    services.integration_update_credentials(integration=shop, values={"api_secret": "SECRET-MAP-5150"})
    Mapping.objects.create(integration=shop, kind="carrier", source="USPS", target="+POSTAL", notes="@ops")
    Mapping.objects.create(integration=shop, kind="shipping_method", source="Std", target="GROUND")
    exported = SafeCSV().export_data(MappingResource().export())
    before = sorted(Mapping.objects.values_list("integration__name", "kind", "source", "target", "notes"))
    Mapping.objects.all().delete()

    # when
    result = MappingResource().import_data(csv_dataset(exported))

    # then
    assert "SECRET-MAP-5150" not in exported and "s3cr3t-value" not in exported
    assert "'+POSTAL" in exported and "'@ops" in exported
    assert not result.has_validation_errors()
    assert sorted(Mapping.objects.values_list("integration__name", "kind", "source", "target", "notes")) == before


def test_mapping_rows_update_by_natural_key(shop):
    # given
    Mapping.objects.create(integration=shop, kind="carrier", source="USPS", target="OLD")

    # when
    MappingResource().import_data(csv_dataset("integration,kind,source,target,notes\nFake A,carrier,USPS,NEW,\n"))

    # then
    assert list(Mapping.objects.values_list("source", "target")) == [("USPS", "NEW")]


def test_bad_mapping_rows_change_nothing(shop):
    # given
    Mapping.objects.create(integration=shop, kind="carrier", source="USPS", target="OLD")

    # when
    result = MappingResource().import_data(csv_dataset(
        "integration,kind,source,target,notes\n"
        "Fake A,carrier,USPS,NEW,\n"
        "Nowhere,carrier,DHL,D,\n"
        "Fake A,colour,red,R,\n"
        "Fake A,carrier,UPS,,\n"
        "Fake A,carrier,USPS,AGAIN,\n"))

    # then
    assert errors_of(result) == [
        (2, {"integration": ["no integration named 'Nowhere'"]}),
        (3, {"kind": ["Value 'colour' is not a valid choice."]}),
        (4, {"target": ["This field cannot be blank."]}),
        (5, {"integration": ["also on row 1 of this file"]}),
    ]
    assert list(Mapping.objects.values_list("source", "target")) == [("USPS", "OLD")]


@pytest.mark.parametrize("fmt", [SafeCSV, base_formats.JSON, base_formats.TSV], ids=["csv_case", "json_case", "tsv_case"])
def test_every_export_format_escapes_formulae_and_reads_back_exactly(shop, fmt):
    # given
    values = ["=1+1", "+1", "-1", "@SUM(A1)", "\t=x", "\r=x", "'q", "plain"]
    for n, value in enumerate(values):
        Mapping.objects.create(integration=shop, kind="carrier", source=f"S{n}", target=value)
    exported = fmt().export_data(MappingResource().export())
    Mapping.objects.all().delete()

    # when
    result = MappingResource().import_data(fmt().create_dataset(exported))

    # then
    raw = fmt().create_dataset(exported)
    assert [row[3][:1] for row in raw] == ["'"] * 7 + ["p"]
    assert not result.has_validation_errors()
    assert list(Mapping.objects.order_by("source").values_list("target", flat=True)) == values


def test_mapping_import_is_recorded_in_the_settings_history(shop, admin_user):
    # given
    from integrations.models import SettingsChange

    Mapping.objects.create(integration=shop, kind="carrier", source="USPS", target="OLD")
    data = csv_dataset("integration,kind,source,target,notes\nFake A,carrier,USPS,NEW,\nFake A,carrier,DHL,D,\n")

    # when
    MappingResource().import_data(data, user=admin_user)

    # then
    change = SettingsChange.objects.get(integration=shop)
    assert (change.source, change.user, change.summary) == ("import", admin_user, "mappings imported: 1 added, 1 changed")
    assert change.diff["mappings"]["changed"] == [{"kind": "carrier", "source": "USPS", "target": ["OLD", "NEW"], "notes": ["", ""]}]


def test_bad_mapping_file_records_no_history(shop):
    # given
    from integrations.models import SettingsChange

    # when
    MappingResource().import_data(csv_dataset("integration,kind,source,target,notes\nFake A,carrier,DHL,D,\nFake A,moon,X,Y,\n"))

    # then
    assert SettingsChange.objects.exists() is False
    assert Mapping.objects.exists() is False


def test_sku_mapping_rows_are_normalised_before_the_natural_key_lookup(shop):
    Mapping.objects.create(integration=shop, kind="sku", source="SKU-1", target="M-1")
    result = MappingResource().import_data(csv_dataset(
        "integration,kind,source,target,notes\nFake A,sku,\u200bＳＫＵ-１\t,M-2\u200e,\nFake A,carrier,\u200bUPS,ups,\n"))
    assert not result.has_errors() and not result.has_validation_errors()
    assert sorted(Mapping.objects.values_list("kind", "source", "target")) == [
        ("carrier", "\u200bUPS", "ups"), ("sku", "SKU-1", "M-2")]
