"""TikTok emulator, product side (issue 16): categories, attributes, category rules, Create Product with the
listing rules, the audit, status changes and which calls each listing status allows (reference §6)."""
import pytest

from integrations.sandbox import catalog
from integrations.sandbox.models import EmuProduct, EmuSku

PRODUCTS = "/product/202309/products"
HOSTED = "tos-emu-i-sandbox/0123abcd"


def listing(warehouse_id, **over):
    body = {"title": "Canvas Tote", "description": "<p>Sturdy canvas tote.</p>", "category_id": "824712",
            "main_images": [{"uri": HOSTED}], "package_weight": {"value": "0.5", "unit": "POUND"},
            "product_attributes": [{"id": "100392", "values": [{"id": "1000045"}]}],
            "skus": [{"seller_sku": "TOTE-NAT", "price": {"amount": "24.00", "currency": "USD"},
                      "inventory": [{"warehouse_id": warehouse_id, "quantity": 7}]}],
            "save_mode": "LISTING", "idempotency_key": "k-1"}
    body.update(over)
    return body


@pytest.fixture
def warehouse_id(emu_shop):
    return emu_shop.warehouses.get(is_default=True).warehouse_id


def test_categories_attributes_and_rules_have_the_reference_shapes(tiktok_call):
    status, cats = tiktok_call("GET", "/product/202309/categories", {"category_version": "v2"})
    assert status == 200 and cats["code"] == 0
    tote = next(c for c in cats["data"]["categories"] if c["id"] == "824712")
    assert tote == {"id": "824712", "parent_id": "824584", "local_name": "Tote Bags", "is_leaf": True,
                    "permission_statuses": ["AVAILABLE"]}
    _, attrs = tiktok_call("GET", "/product/202309/categories/824712/attributes")
    material = attrs["data"]["attributes"][0]
    assert (material["name"], material["type"], material["is_requried"]) == ("Material", "PRODUCT_PROPERTY", True)
    _, rules = tiktok_call("GET", "/product/202309/categories/700645/rules")
    assert rules["data"]["product_certifications"][0]["is_required"] is True
    assert rules["data"]["package_dimension"] == {"is_required": True}
    assert tiktok_call("GET", "/product/202309/categories/824584/attributes")[1]["code"] == 12052010  # not a leaf
    assert tiktok_call("GET", "/product/202309/categories", {"category_version": "v1"})[1]["code"] == 12052008  # US needs v2


def test_create_product_listing_goes_to_audit_then_live_with_its_stock(tiktok_call, emu_shop, warehouse_id, monkeypatch):
    status, created = tiktok_call("POST", PRODUCTS, body=listing(warehouse_id))
    assert status == 200 and created["code"] == 0, created
    data = created["data"]
    product = EmuProduct.objects.get(product_id=data["product_id"])
    assert product.status == "PENDING" and data["skus"][0]["seller_sku"] == "TOTE-NAT"
    sku = EmuSku.objects.get(sku_id=data["skus"][0]["id"])
    assert sku.inventory == {warehouse_id: 7} and str(sku.price) == "24.00"
    # the same idempotency key answers the same product, nothing created twice
    assert tiktok_call("POST", PRODUCTS, body=listing(warehouse_id))[1]["data"]["product_id"] == data["product_id"]
    assert EmuProduct.objects.filter(title="Canvas Tote").count() == 1
    monkeypatch.setattr(catalog, "AUDIT_SECONDS", 0)
    _, got = tiktok_call("GET", f"{PRODUCTS}/{data['product_id']}")
    assert got["data"]["status"] == "ACTIVATE" and got["data"]["category_chains"][-1]["id"] == "824712"
    assert got["data"]["skus"][0]["inventory"] == [{"warehouse_id": warehouse_id, "quantity": 7}]


@pytest.mark.parametrize("_case, over, code", [
    ("missing required attribute", {"product_attributes": []}, 12052040),
    ("value not allowed", {"product_attributes": [{"id": "100392", "values": [{"id": "999"}]}]}, 12052041),
    ("image not uploaded", {"main_images": [{"uri": "https://cdn.example/tote.jpg"}]}, 12052031),
    ("ten images", {"main_images": [{"uri": HOSTED}] * 10}, 12052030),
    ("no description", {"description": ""}, 12052002),
    ("no weight", {"package_weight": None}, 12052060),
    ("not a leaf category", {"category_id": "824584"}, 12052010),
    ("price zero", {"skus": [{"seller_sku": "TOTE-NAT", "price": {"amount": "0", "currency": "USD"}}]}, 12052021),
    ("price three decimals", {"skus": [{"seller_sku": "TOTE-NAT", "price": {"amount": "1.999", "currency": "USD"}}]}, 12052021),
    ("wrong currency", {"skus": [{"seller_sku": "TOTE-NAT", "price": {"amount": "5", "currency": "GBP"}}]}, 12052022),
    ("unknown warehouse", {"skus": [{"seller_sku": "TOTE-NAT", "price": {"amount": "5"},
                                     "inventory": [{"warehouse_id": "1", "quantity": 1}]}]}, 12052097),
    ("quantity out of range", {"skus": [{"seller_sku": "TOTE-NAT", "price": {"amount": "5"},
                                         "inventory": [{"quantity": 100000}]}]}, 12052055),
    ("certification required", {"category_id": "700645", "product_attributes": [{"id": "100397", "values": [{"id": "1000091"}]}],
                                "package_dimensions": {"length": "1", "width": "1", "height": "1", "unit": "INCH"}}, 12052062),
    ("dimensions required", {"category_id": "605253"}, 12052061),
])
def test_create_product_refuses_what_breaks_the_listing_rules_and_creates_nothing(tiktok_call, warehouse_id, _case, over, code):
    _, answer = tiktok_call("POST", PRODUCTS, body=listing(warehouse_id, **over))
    assert answer["code"] == code, answer
    assert not EmuProduct.objects.filter(title="Canvas Tote").exists()


def test_a_draft_may_miss_attributes(tiktok_call, warehouse_id):
    _, answer = tiktok_call("POST", PRODUCTS, body=listing(warehouse_id, product_attributes=[], save_mode="AS_DRAFT"))
    assert answer["code"] == 0 and EmuProduct.objects.get(product_id=answer["data"]["product_id"]).status == "DRAFT"


def _product(tiktok_call, warehouse_id, status):
    pid = tiktok_call("POST", PRODUCTS, body=listing(warehouse_id))[1]["data"]["product_id"]
    EmuProduct.objects.filter(product_id=pid).update(status=status)
    return pid, EmuSku.objects.get(product__product_id=pid).sku_id


@pytest.mark.parametrize("status", ["DELETED", "FREEZE"])
def test_get_product_is_not_for_deleted_or_frozen_products(tiktok_call, warehouse_id, status):
    pid, _ = _product(tiktok_call, warehouse_id, status)
    assert tiktok_call("GET", f"{PRODUCTS}/{pid}")[1]["code"] == 12052048


def test_recover_then_activate_then_edit(tiktok_call, warehouse_id, monkeypatch):
    pid, sku_id = _product(tiktok_call, warehouse_id, "DELETED")
    price = {"skus": [{"id": sku_id, "price": {"amount": "21.00", "currency": "USD"}}]}
    assert tiktok_call("POST", f"{PRODUCTS}/{pid}/partial_edit", body=price)[1]["code"] == 12052049  # deleted: no edit
    _, recovered = tiktok_call("POST", f"{PRODUCTS}/recover", body={"product_ids": [pid]})
    assert (recovered["code"], recovered["data"]) == (0, {})
    assert EmuProduct.objects.get(product_id=pid).status == "SELLER_DEACTIVATED"
    assert tiktok_call("POST", f"{PRODUCTS}/{pid}/prices/update", body=price)[1]["code"] == 12052230  # not live
    assert tiktok_call("POST", f"{PRODUCTS}/activate", body={"product_ids": [pid]})[1]["code"] == 0
    assert EmuProduct.objects.get(product_id=pid).status == "PENDING"
    assert tiktok_call("POST", f"{PRODUCTS}/{pid}/partial_edit", body=price)[1]["code"] == 0
    assert str(EmuSku.objects.get(sku_id=sku_id).price) == "21.00"
    monkeypatch.setattr(catalog, "AUDIT_SECONDS", 0)
    assert tiktok_call("POST", f"{PRODUCTS}/{pid}/prices/update", body={"skus": [{"id": sku_id, "price": {"amount": "20.00"}}]})[1][
        "code"] == 0
    assert str(EmuSku.objects.get(sku_id=sku_id).price) == "20.00"


def test_status_changes_report_products_that_cannot_change(tiktok_call, warehouse_id):
    pid, _ = _product(tiktok_call, warehouse_id, "FREEZE")
    _, answer = tiktok_call("DELETE", PRODUCTS, body={"product_ids": [pid]})
    assert answer["code"] == 0 and answer["data"]["errors"][0]["detail"] == {"product_id": pid}
    assert EmuProduct.objects.get(product_id=pid).status == "FREEZE"
