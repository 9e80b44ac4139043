"""Location, location link and inventory level resources: natural keys, row errors, nothing half-applied,
levels written through the inventory service (ledger)."""
import pytest
import tablib

from catalog.models import Product
from integrations.resources import SafeCSV
from inventory.models import InventoryLedgerEntry, InventoryLevel, Location, LocationLink
from inventory.resources import InventoryLevelResource, LocationLinkResource, LocationResource


def csv_dataset(text: str) -> tablib.Dataset:
    return SafeCSV().create_dataset(text)


def errors_of(result):
    return [(row.number, {k: [str(e) for e in v] for k, v in row.error.message_dict.items()}) for row in result.invalid_rows]


def test_locations_round_trip_by_code_without_remote_ids(shop):
    # given
    Location.objects.create(code="wh-1", name="=Main", kind="3pl_managed", external_id="REMOTE-WH-42", quantities_locked=True)
    Location.objects.create(code="fbt-us", name="FBT", kind="fbt", integration=shop)
    exported = SafeCSV().export_data(LocationResource().export())
    before = sorted(Location.objects.values_list("code", "name", "kind", "integration__name", "quantities_locked"))
    Location.objects.all().delete()

    # when
    result = LocationResource().import_data(csv_dataset(exported))

    # then
    assert "REMOTE-WH-42" not in exported and "'=Main" in exported
    assert not result.has_validation_errors()
    assert sorted(Location.objects.values_list("code", "name", "kind", "integration__name", "quantities_locked")) == before


def test_bad_location_row_changes_nothing(shop):
    # given
    Location.objects.create(code="wh-1", name="Main")

    # when
    result = LocationResource().import_data(csv_dataset(
        "code,name,kind,integration\nwh-1,Renamed,warehouse,\nwh-2,Second,moon,\nwh-3,Third,warehouse,Nowhere\n"))

    # then
    assert errors_of(result) == [(2, {"kind": ["Value 'moon' is not a valid choice."]}),
                                 (3, {"integration": ["no integration named 'Nowhere'"]})]
    assert list(Location.objects.values_list("code", "name")) == [("wh-1", "Main")]


def test_location_links_import_by_code_and_refuse_unknown_codes(shop):
    # given
    for code in ("osa", "fbt", "dtc"):
        Location.objects.create(code=code, name=code)

    # when
    bad = LocationLinkResource().import_data(csv_dataset("source,target\nosa,fbt\nosa,gone\nosa,osa\n"))
    good = LocationLinkResource().import_data(csv_dataset("source,target\nosa,fbt\nosa,dtc\nosa,fbt\n"))

    # then
    assert errors_of(bad) == [(2, {"target": ["no location with code 'gone'"]}), (3, {"target": ["a location cannot be linked to itself"]})]
    assert errors_of(good) == [(3, {"source": ["also on row 1 of this file"]})]
    assert LocationLink.objects.exists() is False
    ok = LocationLinkResource().import_data(csv_dataset("source,target\nosa,fbt\nosa,dtc\n"))
    assert not ok.has_validation_errors()
    assert sorted(LocationLink.objects.values_list("source__code", "target__code")) == [("osa", "dtc"), ("osa", "fbt")]
    exported = SafeCSV().export_data(LocationLinkResource().export())
    assert exported.splitlines() == ["source,target", "osa,dtc", "osa,fbt"]


def test_inventory_levels_import_through_the_ledger(shop):
    # given
    wh = Location.objects.create(code="wh", name="WH")
    a = Product.objects.create(sku="A", name="A")
    Product.objects.create(sku="B", name="B")
    InventoryLevel.objects.create(product=a, location=wh, on_hand=5, available=5)

    # when
    result = InventoryLevelResource().import_data(csv_dataset("product,location,on_hand\nA,wh,8\nB,wh,3\n"))

    # then
    assert not result.has_validation_errors() and not result.has_errors()
    assert sorted(InventoryLevel.objects.values_list("product__sku", "on_hand", "available")) == [("A", 8, 8), ("B", 3, 3)]
    assert sorted(InventoryLedgerEntry.objects.values_list("product__sku", "field", "delta", "reason")) == [
        ("A", "on_hand", 3, "import"), ("B", "on_hand", 3, "import")]


@pytest.mark.parametrize("line,errors", [
    ("GHOST,wh,1", {"product": ["no product with SKU 'GHOST'"]}),
    ("A,nowhere,1", {"location": ["no location with code 'nowhere'"]}),
    ("A,wh,-4", {"on_hand": ["must be a whole number ≥ 0"]}),
    ("A,locked,4", {"location": ["locked has its quantities locked"]}),
], ids=["unknown_sku_case", "unknown_location_case", "negative_case", "locked_location_case"])
def test_bad_inventory_row_changes_nothing(shop, line, errors):
    # given
    Location.objects.create(code="wh", name="WH")
    Location.objects.create(code="locked", name="Locked", quantities_locked=True)
    Product.objects.create(sku="A", name="A")
    Product.objects.create(sku="B", name="B")

    # when
    result = InventoryLevelResource().import_data(csv_dataset(f"product,location,on_hand\nB,wh,2\n{line}\n"))

    # then
    assert errors_of(result) == [(2, errors)]
    assert InventoryLevel.objects.exists() is False
    assert InventoryLedgerEntry.objects.exists() is False
