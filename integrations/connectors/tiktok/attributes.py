"""Product attribute values for TikTok categories: mapped from the product, or derived when missing.

Derivation is deterministic first ("rules"): each missing attribute's allowed values (Get Attributes,
reference §6.1) are searched for in the product's own properties, in a fixed order — variant options,
custom fields, name, description — longest value first. When the rules find nothing and an LLM provider
is configured by environment (OpenAI-compatible chat completions), the provider is asked to pick one of
the allowed values; its answer is used only if it is one of them. Every derived value records its source
("rules" or "llm") so the admin can say which one ran."""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from html import unescape

from integrations.exceptions import ConnectorError
from integrations.http import BaseClient

logger = logging.getLogger("integrations.tiktok.attributes")

SOURCE_PRODUCT, SOURCE_RULES, SOURCE_LLM = "product", "rules", "llm"
ENV_LLM_URL, ENV_LLM_MODEL, ENV_LLM_API_KEY = "SWITCHYARD_LLM_URL", "SWITCHYARD_LLM_MODEL", "SWITCHYARD_LLM_API_KEY"


@dataclass(frozen=True)
class ProductFacts:
    """What a product says about itself (no ORM here)."""

    sku: str
    name: str = ""
    description_html: str = ""
    brand: str = ""
    variant_options: dict | None = None
    custom_fields: dict | None = None


def parse_attributes_mapping(text: str) -> dict[str, str]:
    """"color:colour, size:Size" → {"color": "colour", "size": "size"} (Switchyard name → TikTok name, lower-case)."""
    mapping = {}
    for pair in re.split(r"[,;\n]", text or ""):
        if ":" not in pair:
            continue
        source, _, target = pair.partition(":")
        if source.strip() and target.strip():
            mapping[source.strip().lower()] = target.strip().lower()
    return mapping


def product_attribute_values(facts: ProductFacts, mapping: dict[str, str]) -> dict[str, str]:
    """Values the product carries, keyed by lower-case TikTok attribute name (mapped names win)."""
    values: dict[str, str] = {}
    for source in (facts.custom_fields or {}, facts.variant_options or {}):
        for key, value in source.items():
            if value in (None, "") or isinstance(value, (dict, list)):
                continue
            name = str(key).strip().lower()
            values[mapping.get(name, name)] = str(value).strip()
    if facts.brand and "brand" not in values:
        values["brand"] = facts.brand
    return values


def required_attributes(attributes: list[dict], *, required_only: bool = True) -> list[dict]:
    """Category attributes we must fill (`is_requried` is TikTok's spelling; `is_required` accepted too)."""
    return [a for a in attributes if not required_only or a.get("is_requried") or a.get("is_required")]


def _strip_html(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", html or ""))


def _find_allowed(text: str, allowed: list[dict]) -> dict | None:
    if not text:
        return None
    for value in sorted(allowed, key=lambda v: (-len(v.get("name", "")), v.get("name", ""))):
        name = value.get("name", "").strip()
        if name and re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text, flags=re.IGNORECASE):
            return value
    return None


def match_allowed(value: str, allowed: list[dict]) -> dict | None:
    """The allowed value equal to `value` (case-insensitive), if any."""
    wanted = (value or "").strip().lower()
    for candidate in allowed:
        if candidate.get("name", "").strip().lower() == wanted:
            return candidate
    return None


def derive_by_rules(attribute: dict, facts: ProductFacts) -> dict | None:
    allowed = attribute.get("values") or []
    if not allowed:
        return None
    sources = [
        " | ".join(str(v) for v in (facts.variant_options or {}).values()),
        " | ".join(str(v) for v in (facts.custom_fields or {}).values() if not isinstance(v, (dict, list))),
        facts.name,
        _strip_html(facts.description_html),
    ]
    for text in sources:
        found = _find_allowed(text, allowed)
        if found:
            return found
    return None


class LLMClient(BaseClient):
    role = "llm"

    def __init__(self, *, url: str, model: str, api_key: str = "", **kwargs) -> None:
        base = url.rstrip("/")
        self.endpoint = base if base.endswith("/chat/completions") else f"{base}/chat/completions"
        super().__init__(base_url="", **kwargs)
        self.model = model
        self.api_key = api_key

    def choose(self, *, attribute: str, allowed: list[str], facts: ProductFacts) -> str:
        prompt = (
            f"Product: {facts.name}\nDescription: {_strip_html(facts.description_html)[:2000]}\n"
            f"Options: {facts.variant_options or {}}\nFields: {facts.custom_fields or {}}\n\n"
            f"Which value of the TikTok attribute \"{attribute}\" fits this product? Answer with exactly one of: "
            + "; ".join(allowed)
        )
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        body = {"model": self.model, "temperature": 0,
                "messages": [{"role": "system", "content": "You classify products. Reply with one allowed value only."},
                             {"role": "user", "content": prompt}]}
        answer = self.request("POST", self.endpoint, json=body, headers=headers) or {}
        try:
            return str(answer["choices"][0]["message"]["content"]).strip().strip('"').strip()
        except (KeyError, IndexError, TypeError):
            return ""


def llm_client_from_env() -> LLMClient | None:
    url, model = os.environ.get(ENV_LLM_URL, ""), os.environ.get(ENV_LLM_MODEL, "")
    if not url or not model:
        return None
    return LLMClient(url=url, model=model, api_key=os.environ.get(ENV_LLM_API_KEY, ""))


def derive_by_llm(attribute: dict, facts: ProductFacts, client: LLMClient) -> dict | None:
    allowed = attribute.get("values") or []
    if not allowed:
        return None
    try:
        answer = client.choose(attribute=attribute.get("name", ""), allowed=[v.get("name", "") for v in allowed], facts=facts)
    except ConnectorError as exc:
        logger.warning("llm.failed", extra={"attribute": attribute.get("name"), "error_class": type(exc).__name__})
        return None
    return match_allowed(answer, allowed)


@dataclass(frozen=True)
class AttributePlan:
    """Attribute values to send plus what could not be filled."""

    values: dict[str, dict]  # TikTok attribute name → {"id", "value_id", "value", "source"}
    missing: list[str]

    @property
    def derived_source(self) -> str:
        sources = {v["source"] for v in self.values.values() if v["source"] in (SOURCE_RULES, SOURCE_LLM)}
        return SOURCE_LLM if SOURCE_LLM in sources else (SOURCE_RULES if sources else "")


def plan_attributes(*, attributes: list[dict], facts: ProductFacts, mapping: dict[str, str], required_only: bool,
                    derive: bool, allowed_names: list[str] = (), blocked_names: list[str] = (),
                    llm: LLMClient | None = None) -> AttributePlan:
    """Fill the category's (required) attributes from the product, deriving missing ones when `derive` is on.

    `allowed_names` (when not empty) limits derivation to those attribute names; `blocked_names` excludes names."""
    own = product_attribute_values(facts, mapping)
    allowed_set = {n.strip().lower() for n in allowed_names if n.strip()}
    blocked_set = {n.strip().lower() for n in blocked_names if n.strip()}
    values: dict[str, dict] = {}
    missing: list[str] = []
    for attribute in required_attributes(attributes, required_only=required_only):
        name = attribute.get("name", "")
        key = name.strip().lower()
        given = own.get(key)
        if given:
            choices = attribute.get("values") or []
            chosen = match_allowed(given, choices) if choices else None
            if chosen or attribute.get("is_customizable") or not choices:
                values[name] = {"id": attribute.get("id", ""), "value_id": (chosen or {}).get("id", ""),
                                "value": (chosen or {}).get("name", given), "source": SOURCE_PRODUCT}
                continue
        if derive and (not allowed_set or key in allowed_set) and key not in blocked_set:
            found = derive_by_rules(attribute, facts)
            source = SOURCE_RULES
            if found is None and llm is not None:
                found, source = derive_by_llm(attribute, facts, llm), SOURCE_LLM
            if found is not None:
                values[name] = {"id": attribute.get("id", ""), "value_id": found.get("id", ""), "value": found.get("name", ""),
                                "source": source}
                continue
        missing.append(name)
    return AttributePlan(values=values, missing=missing)
