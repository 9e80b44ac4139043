"""Seed 002 listing rules, one rule at a time (pure functions)."""
from decimal import Decimal

from integrations.connectors.tiktok import listing_rules as rules

GOOD_DESCRIPTION = "<p>Soft cotton tee.</p><ul><li>100% cotton</li><li>Machine wash</li></ul><img src='https://x/a.jpg'>"


def fields(problems):
    return [p["field"] for p in problems]


def test_title_is_required_and_at_most_255_characters():
    assert rules.check_title("Cotton Tee") == []
    assert fields(rules.check_title("  ")) == ["title"]
    assert rules.check_title("x" * 256)[0]["message"] == "Product name is 256 characters; at most 255 allowed"


def test_description_with_allowed_tags_passes():
    assert rules.check_description(GOOD_DESCRIPTION) == []


def test_description_is_required():
    assert rules.check_description("")[0]["message"] == "Description is required"


def test_description_rejects_tags_outside_the_allowed_list():
    problems = rules.check_description("<p>Hi</p><div>block</div><script>x</script>")
    messages = [p["message"] for p in problems]
    assert any(m.startswith("<div> is not allowed") for m in messages)
    assert any(m.startswith("<script> is not allowed") for m in messages)


def test_description_rejects_nested_tags_but_allows_list_items():
    assert rules.check_description("<ol><li>a</li></ol>") == []
    assert rules.check_description("<p><strong>x</strong></p>")[0]["message"] == "<strong> is nested inside <p>; tags can not be nested"


def test_description_must_be_valid_html():
    messages = [p["message"] for p in rules.check_description("<p>open")]
    assert messages == ["<p> is never closed (invalid HTML)"]
    assert rules.check_description("<p>a</b>")[0]["message"] == "</b> does not close an open <b> (invalid HTML)"


def test_description_limits_length_and_images():
    assert rules.check_description("<p>" + "x" * 10_000 + "</p>")[0]["message"].startswith("Description is 10007 characters")
    many = "".join("<img src='https://x/%d.jpg'>" % i for i in range(31))
    assert rules.check_description(many)[0]["message"] == "31 images in the description; at most 30"
    assert rules.check_description("".join("<img src='https://x/%d.jpg'>" % i for i in range(30))) == []


def test_images_one_to_nine_png_or_jpeg():
    assert rules.check_images(["https://cdn/a.jpg"]) == []
    assert rules.check_images([])[0]["message"] == "At least 1 image is required"
    assert rules.check_images([f"https://cdn/{i}.png" for i in range(10)])[0]["message"] == "10 images; at most 9 allowed"
    assert rules.check_images(["https://cdn/a.gif"])[0]["message"] == "https://cdn/a.gif is not a png, jpg or jpeg image"
    assert rules.check_images(["https://cdn/a.JPEG?v=2"]) == []


def test_weight_price_and_category_are_required():
    assert fields(rules.check_weight(None)) == ["package_weight"]
    assert fields(rules.check_weight(Decimal("0"))) == ["package_weight"]
    assert rules.check_weight(Decimal("0.5")) == []
    assert fields(rules.check_price(None)) == ["price"]
    assert fields(rules.check_price("-1")) == ["price"]
    assert rules.check_price(Decimal("19.99")) == []
    assert fields(rules.check_category("")) == ["category_id"]
    assert rules.check_category("601226") == []


def test_required_attributes_need_values():
    problems = rules.check_required_attributes(required=["Material", "Pattern"], values={"Material": "Cotton"})
    assert problems == [{"field": "attribute:Pattern", "message": "Required attribute 'Pattern' has no value"}]


def test_promotion_list_price_only_within_5_to_95_percent():
    assert rules.promotion_list_price(price="20.00", compare_at_price="25.00") == (Decimal("25.00"), "")
    assert rules.promotion_list_price(price="20.00", compare_at_price="20.50")[0] is None  # 2.4 % off
    assert rules.promotion_list_price(price="1.00", compare_at_price="100.00")[0] is None  # 99 % off
    assert rules.promotion_list_price(price="20.00", compare_at_price=None) == (None, "no compare-at price above the price")
    assert rules.promotion_list_price(price="20.00", compare_at_price="20.00")[0] is None


def test_check_listing_collects_every_rule():
    problems = rules.check_listing(title="", description="<div>x</div>", images=[], weight=None, price=None, category_id="",
                                   required_attributes=["Material"], attribute_values={})
    assert fields(problems) == ["title", "description", "images", "package_weight", "price", "category_id", "attribute:Material"]


def test_category_rules_requirements():
    rules_data = {"package_dimension": {"is_required": True}, "size_chart": {"is_required": True},
                  "product_certifications": [{"id": "1", "name": "CPC", "is_required": True}, {"id": "2", "is_required": False}]}
    assert fields(rules.check_category_rules(rules_data, has_dimensions=False)) == [
        "package_dimensions", "size_chart", "product_certifications"]
    assert fields(rules.check_category_rules(rules_data, has_dimensions=True)) == ["size_chart", "product_certifications"]
    assert rules.check_category_rules({}, has_dimensions=False) == []
