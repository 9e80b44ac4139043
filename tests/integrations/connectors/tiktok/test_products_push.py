"""Products push: listing rules, attributes, create/update per every Products setting, idempotence."""
from decimal import Decimal

import pytest

from catalog.models import ChannelOption, Product
from integrations import services
from integrations.connectors.tiktok import endpoints_catalog as ep
from integrations.models import OpsException, OutboundPush

FX = "catalog/"
CATEGORY = "601226"
ATTRS_PATH = ep.PATH_CATEGORY_ATTRIBUTES.format(category_id=CATEGORY)
RULES_PATH = ep.PATH_CATEGORY_RULES.format(category_id=CATEGORY)
REMOTE_ID = "1729592969712201111"
PRODUCT_PATH = ep.PATH_PRODUCT.format(product_id=REMOTE_ID)
PARTIAL_PATH = ep.PATH_PRODUCT_PARTIAL_EDIT.format(product_id=REMOTE_ID)
PRICE_PATH = ep.PATH_PRICE_UPDATE.format(product_id=REMOTE_ID)


def run(integration, flow="push_products"):
    return services.flow_run(flow_state=integration.flow_states.get(flow=flow))


def configure(integration, **values):
    services.integration_update_settings(integration=integration, values=values)
    integration.refresh_from_db()


@pytest.fixture
def tee(db):
    parent = Product.objects.create(
        sku="TEE", kind="parent", name="Organic Cotton Tee with a striped pattern for every day", category=CATEGORY,
        description_html="<p>Soft organic cotton.</p><ul><li>Striped</li></ul>", images=["https://cdn.example/tee.jpg"],
        price=Decimal("19.99"), weight=Decimal("0.40"), weight_unit="lb", custom_fields={"material": "Organic Cotton", "pattern": "Striped"})
    red = Product.objects.create(sku="TEE-RED-M", kind="variant", parent=parent, name="Tee red", price=Decimal("19.99"),
                                 compare_at_price=Decimal("24.99"), variant_options={"color": "Red"}, images=["https://cdn.example/red.png"])
    blue = Product.objects.create(sku="TEE-BLUE-M", kind="variant", parent=parent, name="Tee blue", price=Decimal("19.99"),
                                  variant_options={"color": "Blue"}, images=["https://cdn.example/blue.png"])
    return parent, red, blue


@pytest.fixture
def api(tiktok_images):
    tiktok_api = tiktok_images
    tiktok_api.fixture("GET", ATTRS_PATH, FX + "category_attributes__tshirts.json")
    tiktok_api.fixture("GET", RULES_PATH, FX + "category_rules__none_required.json")
    tiktok_api.fixture("POST", ep.PATH_PRODUCTS, FX + "product_create__ok.json")
    return tiktok_api


def create_body(api):
    calls = api.calls_to(ep.PATH_PRODUCTS)
    assert len(calls) == 1
    return api.body(calls[0])


def listed(integration, tee, *, status="ACTIVATE", fingerprint="old"):
    parent, red, blue = tee
    for product, sku_id in ((red, "1729592969712201112"), (blue, "1729592969712201113")):
        ChannelOption.objects.create(product=product, integration=integration, remote_product_id=REMOTE_ID, remote_sku_id=sku_id,
                                     listing_status=status, last_pushed_fingerprint=fingerprint)


# --- create ---

def test_create_listing_once_with_variants_attributes_and_ids(tiktok_integration, api, tee):
    parent, red, blue = tee

    first = run(tiktok_integration)
    second = run(tiktok_integration)

    assert first.status == "succeeded" and first.created == 1, first.errors
    body = create_body(api)
    assert body["save_mode"] == "LISTING" and body["category_id"] == CATEGORY
    assert body["title"] == parent.name and body["main_images"] == [{"uri": "tos-useast5-i/main_image/tee.jpg"}]
    assert body["package_weight"] == {"value": "0.4", "unit": "POUND"}
    assert body["product_attributes"] == [{"id": "100392", "values": [{"id": "1000043"}]}, {"id": "100393", "values": [{"id": "1000052"}]}]
    assert [s["seller_sku"] for s in body["skus"]] == ["TEE-RED-M", "TEE-BLUE-M"]
    assert body["skus"][0]["sales_attributes"] == [{"name": "colour", "value_name": "Red"}]
    assert body["skus"][0]["price"] == {"amount": "19.99", "currency": "USD"} and "list_price" not in body["skus"][0]
    red_option = ChannelOption.objects.get(product=red)
    assert (red_option.remote_product_id, red_option.remote_sku_id, red_option.listing_status) == (REMOTE_ID, "1729592969712201112", "PENDING")
    assert red_option.last_pushed_fingerprint and red_option.readiness_problems == []
    assert ChannelOption.objects.get(product=blue).remote_sku_id == "1729592969712201113"
    assert OutboundPush.objects.get(kind="tiktok_product").status == "sent"
    assert second.created == 0 and second.unchanged == 1


def test_sent_create_is_not_repeated_when_local_bookkeeping_was_lost(tiktok_integration, api, tee):
    run(tiktok_integration)
    ChannelOption.objects.update(last_pushed_fingerprint="", remote_product_id="", remote_sku_id="")

    rerun = run(tiktok_integration)

    assert len(api.calls_to(ep.PATH_PRODUCTS)) == 1
    assert rerun.created == 1 and ChannelOption.objects.get(product=tee[1]).remote_product_id == REMOTE_ID


def test_push_is_us_uk_only(tiktok_integration, api, tee):
    tiktok_integration.remote_state = {**tiktok_integration.remote_state, "shop_region": "DE"}
    tiktok_integration.save()

    sync = run(tiktok_integration)

    assert sync.errors[0]["message"] == "Product push is available for US and UK shops only (shop region DE)"
    assert api.calls_to(ep.PATH_PRODUCTS) == [] and not ChannelOption.objects.exists()


def test_listing_rule_failures_block_the_push_and_are_stored(tiktok_integration, api, tee):
    parent = tee[0]
    Product.objects.filter(pk=parent.pk).update(images=[], description_html="<div>x</div>", weight=None)

    sync = run(tiktok_integration)

    assert api.calls_to(ep.PATH_PRODUCTS) == []
    problems = ChannelOption.objects.get(product=tee[1]).readiness_problems
    assert [p["field"] for p in problems] == ["description", "images", "package_weight"]
    assert sync.failed == 1
    assert OpsException.objects.get(code="listing_incomplete").details["problems"] == problems


def test_sync_disabled_product_is_not_pushed(tiktok_integration, api, tee):
    for product in tee[1:]:
        ChannelOption.objects.create(product=product, integration=tiktok_integration, sync_enabled=False)

    run(tiktok_integration)

    assert api.calls_to(ep.PATH_PRODUCTS) == []


def test_only_apply_product_updates_for_specific_skus(tiktok_integration, api, tee):
    Product.objects.create(sku="MUG", name="Mug", category=CATEGORY)
    configure(tiktok_integration, product_update_skus=["MUG"])

    sync = run(tiktok_integration)

    assert api.calls_to(ep.PATH_PRODUCTS) == [] and sync.fetched == 1
    assert not ChannelOption.objects.filter(product__sku__startswith="TEE").exists()


# --- missing attributes ---

def test_missing_attributes_raise_exception_and_create_draft(tiktok_integration, api, tee):
    Product.objects.filter(pk=tee[0].pk).update(custom_fields={})

    run(tiktok_integration)

    assert create_body(api)["save_mode"] == "AS_DRAFT"
    assert OpsException.objects.get(code="missing_attribute").details["problems"] == [
        {"field": "attribute:Material", "message": "Required attribute 'Material' has no value"},
        {"field": "attribute:Pattern", "message": "Required attribute 'Pattern' has no value"}]
    option = ChannelOption.objects.get(product=tee[1])
    assert option.listing_status == "DRAFT" and len(option.readiness_problems) == 2


def test_derive_mode_fills_attributes_from_the_product_and_records_rules(tiktok_integration, api, tee):
    Product.objects.filter(pk=tee[0].pk).update(custom_fields={})
    configure(tiktok_integration, missing_attributes_mode="ai")

    sync = run(tiktok_integration)

    assert sync.note == "attribute values derived by rules: 1 listing(s)"
    body = create_body(api)
    assert body["save_mode"] == "LISTING"
    assert body["product_attributes"] == [{"id": "100392", "values": [{"id": "1000043"}]}, {"id": "100393", "values": [{"id": "1000052"}]}]
    option = ChannelOption.objects.get(product=tee[1])
    assert option.attributes_source == "rules"
    assert option.derived_attributes["Material"]["value"] == "Organic Cotton"


@pytest.mark.parametrize("_case, values, save_mode", [
    ("sku_allowed", {"ai_attribute_skus": ["TEE"]}, "LISTING"),
    ("sku_not_in_allow_list", {"ai_attribute_skus": ["OTHER"]}, "AS_DRAFT"),
    ("sku_blocked", {"ai_attribute_skus_blocked": ["TEE"]}, "AS_DRAFT"),
    ("attribute_not_in_allow_list", {"ai_attributes": ["Material"]}, "AS_DRAFT"),
    ("attribute_blocked", {"ai_attributes_blocked": ["Pattern"]}, "AS_DRAFT"),
])
def test_derivation_allow_and_block_lists(tiktok_integration, api, tee, _case, values, save_mode):
    Product.objects.filter(pk=tee[0].pk).update(custom_fields={})
    configure(tiktok_integration, missing_attributes_mode="ai", **values)

    run(tiktok_integration)

    assert create_body(api)["save_mode"] == save_mode


def test_pull_values_only_for_required_attributes_off_fills_optional_ones(tiktok_integration, api, tee):
    Product.objects.filter(pk=tee[0].pk).update(description_html="<p>Striped summer tee.</p>")
    configure(tiktok_integration, missing_attributes_mode="ai", required_attributes_only=False)

    run(tiktok_integration)

    ids = [a["id"] for a in create_body(api)["product_attributes"]]
    assert ids == ["100392", "100393", "100394"]


def test_prepare_for_product_push_stores_problems_and_pushes_nothing(tiktok_integration, api, tee):
    Product.objects.filter(pk=tee[0].pk).update(custom_fields={}, images=[])
    configure(tiktok_integration, prepare_product_push=True)

    sync = run(tiktok_integration, "prepare_products")

    assert api.calls_to(ep.PATH_PRODUCTS) == []
    assert [p["field"] for p in ChannelOption.objects.get(product=tee[2]).readiness_problems] == [
        "images", "attribute:Material", "attribute:Pattern"]
    assert sync.status == "partial"
    assert tiktok_integration.flow_states.get(flow="prepare_products").enabled is True


# --- create options ---

def test_attributes_mapping_names_the_sale_attribute(tiktok_integration, api, tee):
    configure(tiktok_integration, attributes_mapping="color:Color Family")

    run(tiktok_integration)

    assert create_body(api)["skus"][1]["sales_attributes"] == [{"name": "color family", "value_name": "Blue"}]


def test_use_promotion_feature_sends_list_price(tiktok_integration, api, tee):
    configure(tiktok_integration, use_promotions=True)

    run(tiktok_integration)

    skus = create_body(api)["skus"]
    assert skus[0]["list_price"] == {"amount": "24.99", "currency": "USD"}
    assert "list_price" not in skus[1]


@pytest.mark.parametrize("_case, props, expected", [
    ("images_allowed", ["price", "images"], {"uri": "tos-useast5-i/attribute_image/red.png"}),
    ("images_not_allowed", ["price", "description"], None),
])
def test_first_child_image_as_variant_image(tiktok_integration, api, tee, _case, props, expected):
    configure(tiktok_integration, first_child_image_as_variant_image=True, product_update_properties=props)

    run(tiktok_integration)

    assert create_body(api)["skus"][0]["sales_attributes"][0].get("sku_img") == expected


def test_force_product_catalog_resync_pushes_unchanged_products(tiktok_integration, api, tee):
    run(tiktok_integration)
    configure(tiktok_integration, force_product_resync=True)
    ChannelOption.objects.update(remote_product_id="")

    run(tiktok_integration)

    assert len(api.calls_to(ep.PATH_PRODUCTS)) == 2
    tiktok_integration.refresh_from_db()
    assert tiktok_integration.setting("force_product_resync") is False  # one-shot trigger


# --- update ---

def test_safe_update_without_hazmat_sends_price_only(tiktok_integration, api, tee):
    listed(tiktok_integration, tee)
    api.fixture("GET", PRODUCT_PATH, FX + "product_get__two_skus.json")
    api.ok("POST", PRICE_PATH)

    sync = run(tiktok_integration)

    assert sync.updated == 1, sync.errors
    assert api.calls_to(PARTIAL_PATH) == []
    prices = api.body(api.calls_to(PRICE_PATH)[0])
    assert prices == {"skus": [{"id": "1729592969712201112", "price": {"amount": "19.99", "currency": "USD"}},
                               {"id": "1729592969712201113", "price": {"amount": "19.99", "currency": "USD"}}]}


@pytest.mark.parametrize("_case, values, hazmat", [
    ("safe_update_off", {"safe_product_update": False}, {}),
    ("hazmat_known", {}, {"is_hazmat": False}),
])
def test_full_update_sends_only_the_allowed_properties(tiktok_integration, api, tee, _case, values, hazmat):
    Product.objects.filter(pk=tee[0].pk).update(hazmat=hazmat)
    configure(tiktok_integration, **values)
    listed(tiktok_integration, tee)
    api.fixture("GET", PRODUCT_PATH, FX + "product_get__two_skus.json")
    api.ok("POST", PARTIAL_PATH)
    api.ok("POST", PRICE_PATH)

    run(tiktok_integration)

    assert api.body(api.calls_to(PARTIAL_PATH)[0]) == {"description": tee[0].description_html}
    assert len(api.calls_to(PRICE_PATH)) == 1


def test_update_only_specific_properties_images_and_title(tiktok_integration, api, tee):
    configure(tiktok_integration, safe_product_update=False, product_update_properties=["images", "title"])
    listed(tiktok_integration, tee)
    api.fixture("GET", PRODUCT_PATH, FX + "product_get__two_skus.json")
    api.ok("POST", PARTIAL_PATH)

    run(tiktok_integration)

    assert sorted(api.body(api.calls_to(PARTIAL_PATH)[0])) == ["main_images", "title"]
    assert api.calls_to(PRICE_PATH) == []


def test_block_update_if_variants_inconsistent(tiktok_integration, api, tee):
    configure(tiktok_integration, block_update_if_variants_inconsistent=True)
    listed(tiktok_integration, tee)
    api.fixture("GET", PRODUCT_PATH, FX + "product_get__extra_variant.json")

    sync = run(tiktok_integration)

    assert sync.failed == 1 and "update blocked" in sync.errors[0]["message"]
    assert [c.request.method for c in api.calls_to(PRODUCT_PATH)] == ["GET"]
    assert ChannelOption.objects.get(product=tee[1]).last_pushed_fingerprint == "old"


def test_inconsistent_variants_are_brought_to_parity_when_not_blocked(tiktok_integration, api, tee):
    listed(tiktok_integration, tee)
    api.fixture("GET", PRODUCT_PATH, FX + "product_get__extra_variant.json")
    api.ok("PUT", PRODUCT_PATH)

    run(tiktok_integration)

    edit = [c for c in api.calls_to(PRODUCT_PATH) if c.request.method == "PUT"]
    assert [s["seller_sku"] for s in api.body(edit[0])["skus"]] == ["TEE-RED-M", "TEE-BLUE-M"]


@pytest.mark.parametrize("_case, allow, deactivations", [("allowed", True, 1), ("not_allowed", False, 0)])
def test_allow_switchyard_to_deactivate_products(tiktok_integration, api, tee, _case, allow, deactivations):
    Product.objects.filter(pk=tee[0].pk).update(status="inactive")
    configure(tiktok_integration, allow_deactivate_products=allow)
    listed(tiktok_integration, tee)
    api.fixture("GET", PRODUCT_PATH, FX + "product_get__two_skus.json")
    api.ok("POST", PRICE_PATH)
    api.ok("POST", ep.PATH_PRODUCTS_DEACTIVATE)

    run(tiktok_integration)

    calls = api.calls_to(ep.PATH_PRODUCTS_DEACTIVATE)
    assert len(calls) == deactivations
    if calls:
        assert api.body(calls[0]) == {"product_ids": [REMOTE_ID]}
        assert ChannelOption.objects.get(product=tee[1]).listing_status == "SELLER_DEACTIVATED"


TWO_SKUS = [{"id": "1729592969712201112", "seller_sku": "TEE-RED-M"}, {"id": "1729592969712201113", "seller_sku": "TEE-BLUE-M"}]
PRICES = [{"id": "1729592969712201112", "price": {"amount": "19.99", "currency": "USD"}},
          {"id": "1729592969712201113", "price": {"amount": "19.99", "currency": "USD"}}]


def _answer_status_calls(api, remote_status):
    api.ok("GET", PRODUCT_PATH, data={"id": REMOTE_ID, "status": remote_status, "skus": TWO_SKUS})
    for path in (ep.PATH_PRODUCTS_RECOVER, ep.PATH_PRODUCTS_ACTIVATE, PARTIAL_PATH, PRICE_PATH):
        api.ok("POST", path)


def _sequence(api):
    """(method, short path) of every call to the product endpoints, in order."""
    names = {PRODUCT_PATH: "product", ep.PATH_PRODUCTS_RECOVER: "recover", ep.PATH_PRODUCTS_ACTIVATE: "activate",
             PARTIAL_PATH: "partial_edit", PRICE_PATH: "price", ep.PATH_PRODUCTS: "create"}
    out = []
    for call in api.mock.calls:
        path = call.request.url.split("?")[0].split("tiktokglobalshop.com")[-1]
        if path in names:
            out.append(f"{call.request.method} {names[path]}")
    return out


@pytest.mark.parametrize("stored, remote_after, expected, status", [
    # live: read it, update the price
    ("ACTIVATE", "ACTIVATE", ["GET product", "POST price"], "ACTIVATE"),
    # deactivated by the seller: Update Price needs ACTIVATE, so the price goes by partial edit; not re-activated
    ("SELLER_DEACTIVATED", "SELLER_DEACTIVATED", ["GET product", "POST partial_edit"], "SELLER_DEACTIVATED"),
    # deleted: recover (never Get Product on it), read it, activate, then edit
    ("DELETED", "SELLER_DEACTIVATED", ["POST recover", "GET product", "POST activate", "POST partial_edit"], "PENDING"),
])
def test_listing_state_decides_the_call_order(tiktok_integration, api, tee, stored, remote_after, expected, status):
    listed(tiktok_integration, tee, status=stored)
    _answer_status_calls(api, remote_after)

    sync = run(tiktok_integration)

    assert sync.updated == 1, sync.errors
    assert _sequence(api) == expected
    if "POST partial_edit" in expected:
        assert api.body(api.calls_to(PARTIAL_PATH)[0]) == {"skus": PRICES}
    else:
        assert api.body(api.calls_to(PRICE_PATH)[0]) == {"skus": PRICES}
    if "POST recover" in expected:
        assert api.body(api.calls_to(ep.PATH_PRODUCTS_RECOVER)[0]) == {"product_ids": [REMOTE_ID]}
        assert api.body(api.calls_to(ep.PATH_PRODUCTS_ACTIVATE)[0]) == {"product_ids": [REMOTE_ID]}
    assert ChannelOption.objects.get(product=tee[1]).listing_status == status
    assert run(tiktok_integration).updated == 0  # nothing sent twice
    assert _sequence(api) == expected


def test_frozen_listing_is_never_read_nor_written_and_the_problem_is_visible(tiktok_integration, api, tee):
    listed(tiktok_integration, tee, status="FREEZE")
    _answer_status_calls(api, "FREEZE")

    sync = run(tiktok_integration)

    assert _sequence(api) == []
    assert sync.failed == 1 and "frozen" in sync.errors[0]["message"]
    assert ChannelOption.objects.get(product=tee[1]).last_pushed_fingerprint == "old"


def test_listing_found_deleted_on_read_is_recovered_then_activated(tiktok_integration, api, tee):
    # the stored status was stale (ACTIVATE): Get Product says DELETED
    listed(tiktok_integration, tee, status="ACTIVATE")
    api.ok("GET", PRODUCT_PATH, data={"id": REMOTE_ID, "status": "DELETED", "skus": TWO_SKUS})
    api.ok("GET", PRODUCT_PATH, data={"id": REMOTE_ID, "status": "SELLER_DEACTIVATED", "skus": TWO_SKUS})
    for path in (ep.PATH_PRODUCTS_RECOVER, ep.PATH_PRODUCTS_ACTIVATE, PARTIAL_PATH):
        api.ok("POST", path)

    run(tiktok_integration)

    assert _sequence(api) == ["GET product", "POST recover", "GET product", "POST activate", "POST partial_edit"]


# --- new listings carry their stock (issue 16) ---

@pytest.fixture
def ops_connectors():
    from tests.orders import factories as f

    f.register()
    yield
    f.unregister()


def _stock(tiktok_integration, quantities, *, default_id="7068517275539719942"):
    from inventory.models import Location
    from tests.orders import factories as f

    tpl = f.three_pl()
    Location.objects.create(integration=tiktok_integration, code="tt-default", external_id=default_id, name="TikTok default",
                            is_default=True)
    east, west = f.location(tpl, "wh-east"), f.location(tpl, "wh-west")
    for sku, (a, b) in quantities.items():
        product = Product.objects.get(sku=sku)
        f.stock(east, product, a)
        f.stock(west, product, b)
    return east, west


def test_create_sends_total_inventory_to_the_default_warehouse(tiktok_integration, api, tee, ops_connectors):
    # "Send total inventory to a default warehouse id" is on by default
    _stock(tiktok_integration, {"TEE-RED-M": (5, 2), "TEE-BLUE-M": (0, 3)})

    run(tiktok_integration)

    body = create_body(api)
    assert [(s["seller_sku"], s["inventory"]) for s in body["skus"]] == [
        ("TEE-RED-M", [{"warehouse_id": "7068517275539719942", "quantity": 7}]),
        ("TEE-BLUE-M", [{"warehouse_id": "7068517275539719942", "quantity": 3}])]
    red = ChannelOption.objects.get(product=tee[1])
    assert red.last_pushed_inventory == {"7068517275539719942": 7}  # the next inventory run has nothing to resend


def test_create_sends_inventory_per_linked_warehouse_when_totals_are_off(tiktok_integration, api, tee, ops_connectors):
    from inventory.models import Location, LocationLink

    configure(tiktok_integration, inventory_total_to_default_warehouse=False)
    east, west = _stock(tiktok_integration, {"TEE-RED-M": (5, 2), "TEE-BLUE-M": (0, 3)})
    second = Location.objects.create(integration=tiktok_integration, code="tt-west", external_id="7068517275539719999",
                                     name="TikTok west")
    LocationLink.objects.create(source=east, target=Location.objects.get(external_id="7068517275539719942"))
    LocationLink.objects.create(source=west, target=second)

    run(tiktok_integration)

    body = create_body(api)
    assert body["skus"][0]["inventory"] == [{"warehouse_id": "7068517275539719942", "quantity": 5},
                                            {"warehouse_id": "7068517275539719999", "quantity": 2}]
    assert body["skus"][1]["inventory"] == [{"warehouse_id": "7068517275539719942", "quantity": 0},
                                            {"warehouse_id": "7068517275539719999", "quantity": 3}]


def test_stock_changes_alone_do_not_make_a_listing_push(tiktok_integration, api, tee, ops_connectors):
    east, _ = _stock(tiktok_integration, {"TEE-RED-M": (5, 2), "TEE-BLUE-M": (0, 3)})
    run(tiktok_integration)
    from tests.orders import factories as f
    f.stock(east, tee[1], 40)

    again = run(tiktok_integration)

    assert again.unchanged == 1 and len(api.calls_to(ep.PATH_PRODUCTS)) == 1


def test_recover_off_creates_a_new_listing(tiktok_integration, api, tee):
    configure(tiktok_integration, allow_recover_deleted_products=False)
    listed(tiktok_integration, tee, status="DELETED")

    run(tiktok_integration)

    assert api.calls_to(ep.PATH_PRODUCTS_RECOVER) == []
    assert len(api.calls_to(ep.PATH_PRODUCTS)) == 1


def test_listings_are_paged_with_variants_kept_together(tiktok_integration, api, tee, monkeypatch):
    from integrations.connectors.tiktok import flows_products

    monkeypatch.setattr(flows_products, "PUSH_BATCH", 1)
    Product.objects.create(sku="MUG", name="Mug", category=CATEGORY)  # incomplete: blocked by the rules

    sync = run(tiktok_integration)

    assert sync.pages == 2  # the tee listing (both variants), then the mug
    assert [s["seller_sku"] for s in create_body(api)["skus"]] == ["TEE-RED-M", "TEE-BLUE-M"]
    assert ChannelOption.objects.get(product__sku="MUG").readiness_problems


def test_category_rules_requirements_block_the_push(tiktok_integration, tiktok_api, tee):
    tiktok_api.fixture("GET", ATTRS_PATH, FX + "category_attributes__tshirts.json")
    tiktok_api.fixture("GET", RULES_PATH, FX + "category_rules__dimensions_and_certification.json")

    run(tiktok_integration)

    assert tiktok_api.calls_to(ep.PATH_PRODUCTS) == []
    assert ChannelOption.objects.get(product=tee[1]).readiness_problems == [
        {"field": "package_dimensions", "message": "Package dimensions are required for this category"},
        {"field": "product_certifications", "message": "Certification 'CPC' is required"}]


def test_attribute_mappings_override_the_setting(tiktok_integration, api, tee):
    from integrations.models import Mapping

    Mapping.objects.create(integration=tiktok_integration, kind="attribute", source="color", target="Main Colour")

    run(tiktok_integration)

    assert create_body(api)["skus"][0]["sales_attributes"] == [{"name": "main colour", "value_name": "Red"}]


def test_dry_run_creates_nothing(tiktok_integration, api, tee):
    sync = services.flow_run(flow_state=tiktok_integration.flow_states.get(flow="push_products"), dry_run=True)

    assert sync.status == "succeeded" and api.calls_to(ep.PATH_PRODUCTS) == []
    assert not OutboundPush.objects.exists() and not ChannelOption.objects.exclude(last_pushed_fingerprint="").exists()
