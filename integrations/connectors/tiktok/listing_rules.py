"""TikTok listing rules (seed 002 "Product Listing Requirements"), as pure functions.

Each check returns a list of problems `{"field": ..., "message": ...}`; an empty list means the rule holds.
The product push refuses to send a product with problems and stores them on its Channel Option
("Export Incomplete Products" reads them)."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from html.parser import HTMLParser
from urllib.parse import urlsplit

TITLE_MAX = 255
TITLE_RECOMMENDED_MIN = 40  # TTS recommends at least 40 characters for category recommendation (advisory only)
DESCRIPTION_MAX = 10_000
DESCRIPTION_MAX_IMAGES = 30
ALLOWED_TAGS = frozenset({"p", "img", "ul", "ol", "li", "br", "strong", "b", "i", "em", "u"})
VOID_TAGS = frozenset({"img", "br"})
LIST_TAGS = frozenset({"ul", "ol"})
IMAGES_MIN, IMAGES_MAX = 1, 9
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
PROMOTION_MIN_PCT, PROMOTION_MAX_PCT = Decimal("5"), Decimal("95")


def _problem(field: str, message: str) -> dict:
    return {"field": field, "message": message}


def check_title(title: str) -> list[dict]:
    title = (title or "").strip()
    if not title:
        return [_problem("title", "Product name is required")]
    if len(title) > TITLE_MAX:
        return [_problem("title", f"Product name is {len(title)} characters; at most {TITLE_MAX} allowed")]
    return []


class _DescriptionParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.images = 0

    def handle_starttag(self, tag, attrs):
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"<{tag}> is not allowed (allowed: {', '.join(sorted(ALLOWED_TAGS))})")
            return
        if tag == "img":
            self.images += 1
        if tag in VOID_TAGS:
            return
        parent = self.stack[-1] if self.stack else None
        if tag == "li":
            if parent not in LIST_TAGS:
                self.problems.append("<li> must be directly inside <ul> or <ol>")
        elif parent is not None:
            self.problems.append(f"<{tag}> is nested inside <{parent}>; tags can not be nested")
        self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"<{tag}> is not allowed (allowed: {', '.join(sorted(ALLOWED_TAGS))})")
        elif tag == "img":
            self.images += 1

    def handle_endtag(self, tag):
        if tag not in ALLOWED_TAGS or tag in VOID_TAGS:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> does not close an open <{tag}> (invalid HTML)")
            if tag in self.stack:
                while self.stack and self.stack.pop() != tag:
                    pass
            return
        self.stack.pop()

    def handle_data(self, data):
        parent = self.stack[-1] if self.stack else None
        if parent in LIST_TAGS and data.strip():
            self.problems.append(f"text directly inside <{parent}> must be in an <li>")


def check_description(html: str) -> list[dict]:
    html = html or ""
    if not html.strip():
        return [_problem("description", "Description is required")]
    problems = []
    if len(html) > DESCRIPTION_MAX:
        problems.append(_problem("description", f"Description is {len(html)} characters; at most {DESCRIPTION_MAX} allowed"))
    parser = _DescriptionParser()
    parser.feed(html)
    parser.close()
    for tag in parser.stack:
        parser.problems.append(f"<{tag}> is never closed (invalid HTML)")
    seen = set()
    for message in parser.problems:
        if message not in seen:
            seen.add(message)
            problems.append(_problem("description", message))
    if parser.images > DESCRIPTION_MAX_IMAGES:
        problems.append(_problem("description", f"{parser.images} images in the description; at most {DESCRIPTION_MAX_IMAGES}"))
    return problems


def check_images(images: list[str]) -> list[dict]:
    images = [i for i in (images or []) if i]
    if len(images) < IMAGES_MIN:
        return [_problem("images", "At least 1 image is required")]
    problems = []
    if len(images) > IMAGES_MAX:
        problems.append(_problem("images", f"{len(images)} images; at most {IMAGES_MAX} allowed"))
    for url in images:
        path = urlsplit(url).path.lower()
        if not path.endswith(IMAGE_EXTENSIONS):
            problems.append(_problem("images", f"{url} is not a png, jpg or jpeg image"))
    return problems


def _decimal(value) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def check_weight(weight) -> list[dict]:
    value = _decimal(weight)
    if value is None or value <= 0:
        return [_problem("package_weight", "Package weight is required and must be above 0")]
    return []


def check_price(price) -> list[dict]:
    value = _decimal(price)
    if value is None or value <= 0:
        return [_problem("price", "Price is required and must be above 0")]
    return []


def check_category(category_id: str) -> list[dict]:
    if not (category_id or "").strip():
        return [_problem("category_id", "TikTok category id is required")]
    return []


def check_required_attributes(*, required: list[str], values: dict[str, str]) -> list[dict]:
    """`required`: names of the category's required attributes; `values`: name → value we can send."""
    return [_problem(f"attribute:{name}", f"Required attribute {name!r} has no value")
            for name in required if not str(values.get(name) or "").strip()]


def promotion_list_price(*, price, compare_at_price) -> tuple[Decimal | None, str]:
    """The strike-through (list) price for "Use promotion feature in TikTok", or None with the reason.

    The difference between price and compare-at price must be within 5-95% of the compare-at price."""
    price_d, compare_d = _decimal(price), _decimal(compare_at_price)
    if price_d is None or compare_d is None or compare_d <= price_d:
        return None, "no compare-at price above the price"
    discount_pct = (compare_d - price_d) * 100 / compare_d
    if discount_pct < PROMOTION_MIN_PCT or discount_pct > PROMOTION_MAX_PCT:
        return None, f"discount {discount_pct.quantize(Decimal('0.1'))}% is outside the 5-95% range"
    return compare_d, ""


def check_listing(*, title: str, description: str, images: list[str], weight, price, category_id: str,
                  required_attributes: list[str] = (), attribute_values: dict | None = None) -> list[dict]:
    """Every rule of seed 002 for one product."""
    return (check_title(title) + check_description(description) + check_images(images) + check_weight(weight)
            + check_price(price) + check_category(category_id)
            + check_required_attributes(required=list(required_attributes), values=attribute_values or {}))


def check_category_rules(rules: dict, *, has_dimensions: bool) -> list[dict]:
    """Get Category Rules (§6.1) requirements Switchyard cannot meet for this product.

    rules: `{package_dimension: {is_required}, size_chart: {is_required}, product_certifications: [{id, name, is_required}]}`;
    Switchyard holds no size charts or certification files, so required ones are problems to resolve in Seller Center."""
    problems = []
    if (rules.get("package_dimension") or {}).get("is_required") and not has_dimensions:
        problems.append(_problem("package_dimensions", "Package dimensions are required for this category"))
    if (rules.get("size_chart") or {}).get("is_required"):
        problems.append(_problem("size_chart", "A size chart is required for this category"))
    for cert in rules.get("product_certifications") or []:
        if cert.get("is_required"):
            problems.append(_problem("product_certifications", f"Certification {cert.get('name') or cert.get('id')!r} is required"))
    return problems
