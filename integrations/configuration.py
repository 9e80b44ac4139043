"""Configuration bundles: export one integration's configuration, validate a bundle against a target,
preview the difference and apply it in one transaction.

A bundle holds the connector kind, a format version, every portable setting, the mappings, the flow
schedules (enabled, interval), the location links that can be carried over and the hold/routing rules that
name the integration. It never holds credentials, tokens, cursors or remote ids; its "omitted" list says so.

JSON is one document; CSV is one row per item (columns ``CSV_HEADERS``), values JSON-encoded so types
survive, cells escaped against formula injection. Import replaces the target's mappings, flow schedules and
carried-over links with the file's; settings absent from the file keep the target's values."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.apps import apps
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import transaction
from django.utils import timezone

from integrations import registry, schema, services
from integrations.exceptions import SettingsError
from integrations.models import FLOW_INTERVAL_MAX, FLOW_INTERVAL_MIN, FlowState, Integration, Mapping, SettingsChange
from integrations.spreadsheets import cell_escape, cell_unescape

FORMAT_NAME = "switchyard.configuration"
FORMAT_VERSION = 1
JSON, CSV = "json", "csv"
CSV_HEADERS = ("item", "key", "value", "kind", "source", "target", "notes")
# OWASP CSV injection: a cell starting with one of these is prefixed with "'"; "'" itself is prefixed too,
# so unescaping (drop one leading "'") is exact.
MAPPING_FIELDS_MAX = {"source": 191, "target": 191, "notes": 255}


class ConfigurationInvalid(ValueError):
    """A bundle that cannot be applied; ``errors`` is a list of (where, why)."""

    def __init__(self, errors: list[tuple[str, str]]):
        super().__init__("; ".join(f"{where}: {why}" for where, why in errors))
        self.errors = errors


@dataclass
class ImportPlan:
    """A validated bundle against a target (None: a new integration), with its difference."""

    connector: str
    settings: dict[str, Any]
    mappings: list[dict]
    flows: list[dict]
    links: list[tuple[int, int]]
    rules: dict[str, list[dict]]
    diff: dict = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)

    @property
    def has_changes(self) -> bool:
        return any(self.diff.values())


# --- export ---------------------------------------------------------------------------------

def configuration_build(*, integration: Integration) -> dict:
    """The bundle of one integration as a JSON-ready dict."""
    spec = integration.spec
    snapshot = _snapshot(integration)
    omitted = [
        "credentials (API keys, secrets, access and refresh tokens)",
        "flow cursors and run state",
        "remote ids (shop/account id, remote state, external ids of orders, products and locations)",
    ]
    omitted += [f"setting {s.key} ({s.label}): shop-specific" for s in spec.settings if not s.portable]
    omitted += [f"location link {text}: cannot be carried over" for text in snapshot.pop("_links_not_carried")]
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "connector": integration.connector,
        "exported_from": integration.name,
        "exported_at": timezone.now().isoformat(),
        **snapshot,
        "omitted": omitted,
    }


def configuration_export(*, integration: Integration, fmt: str = JSON) -> bytes:
    """The bundle serialised as JSON or CSV bytes (UTF-8)."""
    bundle = configuration_build(integration=integration)
    if fmt == JSON:
        return (json.dumps(bundle, indent=2, ensure_ascii=False, sort_keys=False) + "\n").encode()
    if fmt == CSV:
        return _bundle_to_csv(bundle).encode()
    raise ValueError(f"unknown format {fmt!r}; use json or csv")


def configuration_snapshot(*, integration: Integration) -> dict:
    """The comparable configuration (what a round trip must reproduce)."""
    snapshot = _snapshot(integration)
    snapshot.pop("_links_not_carried")
    return snapshot


def _snapshot(integration: Integration) -> dict:
    spec = integration.spec
    stored = {**spec.defaults(), **integration.settings}
    settings = {s.key: stored.get(s.key) for s in spec.settings if s.portable}
    mappings = [
        {"kind": m.kind, "source": m.source, "target": m.target, "notes": m.notes}
        for m in Mapping.objects.filter(integration=integration).order_by("kind", "source")
    ]
    declared = [f.code for f in spec.flows]
    flows = [
        {"flow": fs.flow, "enabled": fs.enabled, "interval_seconds": int(fs.interval.total_seconds())}
        for fs in FlowState.objects.filter(integration=integration, flow__in=declared).order_by("flow")
    ]
    links, not_carried = _links_export(integration)
    return {"settings": settings, "mappings": mappings, "flows": flows, "location_links": links,
            **_rules_export(integration), "_links_not_carried": not_carried}


# Location links: an endpoint owned by the exported integration is written as {"own": <kind>} and resolved in
# the target to its only location of that kind; any other endpoint is written as its code. A link whose own
# endpoint is not the only location of its kind cannot be carried over (listed as omitted).

def _links_export(integration: Integration) -> tuple[list[dict], list[str]]:
    LocationLink, Location = _model("inventory", "LocationLink"), _model("inventory", "Location")
    own_kinds: dict[str, int] = {}
    for kind in Location.objects.filter(integration=integration).values_list("kind", flat=True):
        own_kinds[kind] = own_kinds.get(kind, 0) + 1
    links, skipped = [], []
    qs = (LocationLink.objects.filter(source__integration=integration) | LocationLink.objects.filter(target__integration=integration))
    for link in qs.select_related("source", "target").order_by("source__code", "target__code"):
        ends = {}
        for side in ("source", "target"):
            loc = getattr(link, side)
            if loc.integration_id == integration.pk:
                if own_kinds.get(loc.kind) != 1:
                    ends = None
                    break
                ends[side] = {"own": loc.kind}
            else:
                ends[side] = loc.code
        if ends is None:
            skipped.append(f"{link.source.code} → {link.target.code}")
        else:
            links.append(ends)
    links.sort(key=lambda link: json.dumps(link, sort_keys=True))
    return links, skipped


# Rules: hold and routing rules that name the integration (rules for any integration are global and stay).
# Rule names are unique; a name containing the integration's name is written with "{integration}" in its
# place, so "TikTok US hold" imported into TikTok UK becomes "TikTok UK hold". Routing candidates are written
# as location codes, or {"own": <kind>} for a location of the integration itself (resolved like links).

NAME_PLACEHOLDER = "{integration}"
HOLD_FIELDS = ("name", "enabled", "priority", "connector", "tags", "skus", "order_types", "minutes", "clock", "next_status")
ROUTING_FIELDS = ("name", "position", "enabled", "skus", "tags", "countries", "regions", "check_inventory", "allow_split")
RULE_KEYS = ("hold_rules", "routing_rules")


def _rules_export(integration: Integration) -> dict:
    HoldRule, RoutingRule = _model("orders", "HoldRule", required=False), _model("orders", "RoutingRule", required=False)
    out = {}
    if HoldRule is not None:
        out["hold_rules"] = [
            {**{f: getattr(rule, f) for f in HOLD_FIELDS}, "name": _name_template(rule.name, integration)}
            for rule in HoldRule.objects.filter(integration=integration).order_by("priority", "name")
        ]
    if RoutingRule is not None:
        kinds = _own_kind_counts(integration)
        rules = []
        for rule in RoutingRule.objects.filter(integration=integration).prefetch_related("candidates__location").order_by("position", "name"):
            candidates = []
            for cand in rule.candidates.all():
                loc = cand.location
                ref = {"own": loc.kind} if loc.integration_id == integration.pk and kinds.get(loc.kind) == 1 else loc.code
                candidates.append({"location": ref, "rank": cand.rank})
            rules.append({**{f: getattr(rule, f) for f in ROUTING_FIELDS}, "name": _name_template(rule.name, integration),
                          "locations": candidates})
        out["routing_rules"] = rules
    return out


def _name_template(name: str, integration: Integration) -> str:
    return name.replace(integration.name, NAME_PLACEHOLDER) if integration.name else name


def _own_kind_counts(integration: Integration) -> dict[str, int]:
    Location = _model("inventory", "Location")
    counts: dict[str, int] = {}
    for kind in Location.objects.filter(integration=integration).values_list("kind", flat=True):
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def _model(app: str, name: str, *, required: bool = True):
    try:
        return apps.get_model(app, name)
    except LookupError:
        if required:
            raise
        return None


# --- CSV ------------------------------------------------------------------------------------

csv_escape, csv_unescape = cell_escape, cell_unescape  # the one rule: integrations/spreadsheets.py


def _bundle_to_csv(bundle: dict) -> str:
    rows: list[dict] = []
    for key in ("format", "format_version", "connector", "exported_from", "exported_at"):
        rows.append({"item": "meta", "key": key, "value": json.dumps(bundle[key], ensure_ascii=False)})
    for key, value in bundle["settings"].items():
        rows.append({"item": "setting", "key": key, "value": json.dumps(value, ensure_ascii=False)})
    for m in bundle["mappings"]:
        rows.append({"item": "mapping", "kind": m["kind"], "source": m["source"], "target": m["target"], "notes": m["notes"]})
    for f in bundle["flows"]:
        rows.append({"item": "flow", "key": f["flow"],
                     "value": json.dumps({"enabled": f["enabled"], "interval_seconds": f["interval_seconds"]})})
    for link in bundle["location_links"]:
        rows.append({"item": "location_link", "source": json.dumps(link["source"], ensure_ascii=False),
                     "target": json.dumps(link["target"], ensure_ascii=False)})
    for key in RULE_KEYS:
        for rule in bundle.get(key, []):
            rows.append({"item": key[:-1], "value": json.dumps(rule, ensure_ascii=False, default=str)})
    for text in bundle["omitted"]:
        rows.append({"item": "omitted", "value": text})
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_HEADERS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({h: csv_escape(str(row.get(h, ""))) for h in CSV_HEADERS})
    return out.getvalue()


MAX_INTERVAL_SECONDS = int(FLOW_INTERVAL_MAX.total_seconds())  # the longest interval a flow may have


def _csv_to_bundle(text: str) -> tuple[dict, dict]:
    """Parse a CSV bundle; returns (bundle, where) with ``where[(section, index)] = "row N"``."""
    errors: list[tuple[str, str]] = []
    reader = csv.DictReader(io.StringIO(text))
    headers = reader.fieldnames or []
    missing = [h for h in ("item", "key", "value") if h not in headers]
    if missing:
        raise ConfigurationInvalid([("header", f"not a configuration CSV: missing column(s) {', '.join(missing)}")])
    bundle: dict = {"settings": {}, "mappings": [], "flows": [], "location_links": [], "omitted": []}
    where: dict = {}
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise ConfigurationInvalid([("file", f"malformed CSV: {exc}")]) from None
    for number, raw in enumerate(rows, start=2):  # row 1 is the header
        row = {k: csv_unescape(v or "") for k, v in raw.items() if k is not None}
        if None in raw:
            errors.append((f"row {number}", "more cells than columns"))
            continue
        item = row.get("item", "")
        at = f"row {number}"
        try:
            if item == "meta":
                bundle[row["key"]] = _json_load(row["value"])
                where[("meta", row["key"])] = at
            elif item == "setting":
                if row["key"] in bundle["settings"]:
                    errors.append((at, f"setting {row['key']!r} appears twice"))
                    continue
                bundle["settings"][row["key"]] = _json_load(row["value"])
                where[("setting", row["key"])] = at
            elif item == "mapping":
                where[("mapping", len(bundle["mappings"]))] = at
                bundle["mappings"].append({k: row.get(k, "") for k in ("kind", "source", "target", "notes")})
            elif item == "flow":
                where[("flow", len(bundle["flows"]))] = at
                bundle["flows"].append({"flow": row["key"], **_json_load(row["value"] or "{}")})
            elif item == "location_link":
                where[("link", len(bundle["location_links"]))] = at
                bundle["location_links"].append({"source": _json_load(row["source"]), "target": _json_load(row["target"])})
            elif item in {k[:-1] for k in RULE_KEYS}:
                key = item + "s"
                where[(key, len(bundle.setdefault(key, [])))] = at
                bundle[key].append(_json_load(row["value"]))
            elif item == "omitted":
                bundle["omitted"].append(row["value"])
            else:
                errors.append((at, f"unknown item type {item!r}"))
        except _DuplicateKey as exc:
            errors.append((at, f"key {exc.args[0]!r} appears twice in the same JSON object"))
        except json.JSONDecodeError as exc:
            errors.append((at, f"value is not valid JSON ({exc.msg}); text values are written in double quotes"))
    if errors:
        raise ConfigurationInvalid(errors)
    return bundle, where


class _DuplicateKey(ValueError):
    pass


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    """json object_pairs_hook: a key given twice is an error (as in CSV), never silently last-wins."""
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _json_load(text: str):
    return json.loads(text, object_pairs_hook=_object_without_duplicates)


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _looks_like_json(text: str) -> bool:
    stripped = text.lstrip()
    if stripped[:1] in ("{", "[", '"'):
        return True
    try:
        json.loads(stripped)
    except ValueError:
        return False
    return True  # null, true, 42...


def configuration_parse(*, content: bytes | str, fmt: str | None = None) -> tuple[dict, dict]:
    """Decode a JSON or CSV bundle (format guessed from the content when not given). Empty files, JSON
    that is not an object, keys given twice and NUL characters are refused with a clear message."""
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ConfigurationInvalid([("file", "not UTF-8 text")]) from None
    if not content.strip():
        raise ConfigurationInvalid([("file", "the file is empty; choose a configuration exported from Switchyard")])
    if "\x00" in content:
        raise ConfigurationInvalid([("file", "the file contains NUL characters; it is not a configuration file")])
    if fmt is None:
        fmt = JSON if _looks_like_json(content) else CSV
    if fmt == JSON:
        try:
            bundle = _json_load(content)
        except _DuplicateKey as exc:
            raise ConfigurationInvalid([("file", f"key {exc.args[0]!r} appears twice in the same JSON object")]) from None
        except json.JSONDecodeError as exc:
            raise ConfigurationInvalid([("file", f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")]) from None
        except RecursionError:
            raise ConfigurationInvalid([("file", "the JSON is nested too deeply")]) from None
        if not isinstance(bundle, dict):
            kind = {list: "an array", type(None): "null", bool: "a boolean", str: "a string"}.get(type(bundle), "a number")
            raise ConfigurationInvalid([("file", f"expected a JSON object (a configuration exported from Switchyard), "
                                                 f"got {kind}")])
        if _has_nul(bundle):
            raise ConfigurationInvalid([("file", "a value contains a NUL character (\\u0000); it is refused")])
        return bundle, {}
    if fmt == CSV:
        return _csv_to_bundle(content)
    raise ValueError(f"unknown format {fmt!r}; use json or csv")


# --- validate / diff ------------------------------------------------------------------------

def configuration_validate(*, bundle: dict, target: Integration | None, where: dict | None = None,
                           connector: str | None = None, new_name: str = "") -> ImportPlan:
    """Check the whole bundle against the target (or a new integration of ``connector``); collect every
    problem, then raise ConfigurationInvalid, or return the plan with its difference. Reads only."""
    where = where or {}
    errors: list[tuple[str, str]] = []

    def at(section, index, fallback):
        return where.get((section, index), fallback)

    if bundle.get("format") != FORMAT_NAME:
        raise ConfigurationInvalid([(at("meta", "format", "format"), f"not a Switchyard configuration file (format must be {FORMAT_NAME!r})")])
    version = bundle.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ConfigurationInvalid([(at("meta", "format_version", "format_version"), f"invalid format version {version!r}")])
    if version > FORMAT_VERSION:
        raise ConfigurationInvalid([(at("meta", "format_version", "format_version"),
                                     f"format version {version} is newer than this Switchyard supports ({FORMAT_VERSION}); upgrade first")])
    kind = bundle.get("connector")
    expected = target.connector if target is not None else (connector or kind)
    if kind != expected:
        who = f"integration {target.name!r}" if target is not None else "--connector"
        raise ConfigurationInvalid([(at("meta", "connector", "connector"),
                                     f"file is for connector {kind!r} but {who} is {expected!r}")])
    try:
        spec = registry.get_connector(kind)
    except KeyError as exc:
        raise ConfigurationInvalid([(at("meta", "connector", "connector"), str(exc.args[0]))]) from None

    for section, typ in (("settings", dict), ("mappings", list), ("flows", list), ("location_links", list)):
        if not isinstance(bundle.get(section, typ()), typ):
            errors.append((section, f"expected a JSON {'object' if typ is dict else 'list'}"))
    if errors:
        raise ConfigurationInvalid(errors)

    settings = _validate_settings(spec, bundle.get("settings", {}), errors, at)
    mappings = _validate_mappings(spec, bundle.get("mappings", []), errors, at)
    flows = _validate_flows(spec, bundle.get("flows", []), errors, at)
    links, notices = _validate_links(bundle.get("location_links", []), target, errors, at)
    rules = _validate_rules(bundle, target, new_name, errors, notices, at)
    if errors:
        raise ConfigurationInvalid(errors)
    plan = ImportPlan(connector=kind, settings=settings, mappings=mappings, flows=flows, links=links, rules=rules,
                      notices=notices)
    plan.diff = _diff(plan, target, spec)
    return plan


def _validate_settings(spec, values: dict, errors, at) -> dict:
    portable = {s.key for s in spec.settings if s.portable}
    good = {}
    for key in values:
        if key in {s.key for s in spec.settings} and key not in portable:
            errors.append((at("setting", key, f"settings.{key}"), "shop-specific setting; it cannot be imported"))
    checkable = {k: v for k, v in values.items() if k in portable or k not in {s.key for s in spec.settings}}
    Location = _model("inventory", "Location")
    location_codes = set(Location.objects.values_list("code", flat=True)) if any(
        s.type == registry.LOCATION for s in spec.settings) else None
    try:
        normalised = schema.validate_settings(spec, checkable, location_ids=location_codes)
    except SettingsError as exc:
        for key, problems in exc.errors.items():
            for problem in problems:
                errors.append((at("setting", key, f"settings.{key}"), problem))
        return good
    return {k: normalised[k] for k in checkable}


def _validate_mappings(spec, rows: list, errors, at) -> list[dict]:
    kinds = set(spec.mapping_kinds) or set(Mapping.Kind.values)
    seen: set[tuple[str, str]] = set()
    out = []
    sku_targets = set()
    for index, row in enumerate(rows):
        where = at("mapping", index, f"mappings[{index}]")
        if not isinstance(row, dict):
            errors.append((where, "expected an object with kind, source, target, notes"))
            continue
        unknown = set(row) - {"kind", "source", "target", "notes"}
        if unknown:
            errors.append((where, f"unknown field(s) {', '.join(sorted(unknown))}"))
        values = {k: row.get(k, "") for k in ("kind", "source", "target", "notes")}
        bad = [k for k, v in values.items() if not isinstance(v, str)]
        if bad:
            errors.append((where, f"expected text for {', '.join(bad)}"))
            continue
        if values["kind"] not in kinds:
            errors.append((where, f"mapping kind {values['kind']!r} is not one of: {', '.join(sorted(kinds))}"))
            continue
        for name in ("source", "target"):
            if not values[name].strip():
                errors.append((where, f"{name} is empty"))
        for name, limit in MAPPING_FIELDS_MAX.items():
            if len(values[name]) > limit:
                errors.append((where, f"{name} is longer than {limit} characters"))
        key = (values["kind"], values["source"])
        if key in seen:
            errors.append((where, f"{values['kind']} {values['source']!r} is mapped twice"))
        seen.add(key)
        if values["kind"] == Mapping.Kind.SKU:
            sku_targets.add(values["target"])
        out.append(values)
    if sku_targets:
        Product = _model("catalog", "Product")
        known = set(Product.objects.filter(sku__in=sku_targets).values_list("sku", flat=True))
        for index, values in enumerate(out):
            if values["kind"] == Mapping.Kind.SKU and values["target"] not in known:
                errors.append((at("mapping", index, f"mappings[{index}]"), f"SKU mapping target {values['target']!r} names no product"))
    return out


def _validate_flows(spec, rows: list, errors, at) -> list[dict]:
    declared = {f.code for f in spec.flows}
    out, seen = [], set()
    for index, row in enumerate(rows):
        where = at("flow", index, f"flows[{index}]")
        if not isinstance(row, dict):
            errors.append((where, "expected an object with flow, enabled, interval_seconds"))
            continue
        code = row.get("flow")
        if code not in declared:
            errors.append((where, f"unknown flow {code!r} for connector {spec.code}"))
            continue
        if code in seen:
            errors.append((where, f"flow {code!r} appears twice"))
        seen.add(code)
        unknown = set(row) - {"flow", "enabled", "interval_seconds"}
        if unknown:
            errors.append((where, f"unknown field(s) {', '.join(sorted(unknown))}"))
        enabled, interval = row.get("enabled"), row.get("interval_seconds")
        if not isinstance(enabled, bool):
            errors.append((where, f"enabled: expected true or false, got {enabled!r}"))
        low, high = int(FLOW_INTERVAL_MIN.total_seconds()), int(FLOW_INTERVAL_MAX.total_seconds())
        if not isinstance(interval, int) or isinstance(interval, bool) or not low <= interval <= high:
            errors.append((where, f"interval_seconds: expected a whole number of seconds from {low} to {high}, got {interval!r}"))
        else:
            out.append({"flow": code, "enabled": enabled, "interval_seconds": interval})
    return out


def _validate_links(rows: list, target: Integration | None, errors, at) -> tuple[list[tuple[int, int]], list[str]]:
    Location = _model("inventory", "Location")
    codes = set()
    for row in rows:
        if isinstance(row, dict):
            codes.update(v for v in (row.get("source"), row.get("target")) if isinstance(v, str))
    by_code = dict(Location.objects.filter(code__in=codes).values_list("code", "pk"))
    own: dict[str, list[int]] = {}
    if target is not None:
        for pk, kind in Location.objects.filter(integration=target).values_list("pk", "kind"):
            own.setdefault(kind, []).append(pk)
    out, notices = [], []
    for index, row in enumerate(rows):
        where = at("link", index, f"location_links[{index}]")
        if not isinstance(row, dict) or set(row) != {"source", "target"}:
            errors.append((where, "expected an object with source and target"))
            continue
        ends = []
        for side in ("source", "target"):
            value = row[side]
            if isinstance(value, str):
                if value not in by_code:
                    errors.append((where, f"{side} location {value!r} does not exist"))
                    ends.append(None)
                else:
                    ends.append(by_code[value])
            elif isinstance(value, dict) and set(value) == {"own"} and isinstance(value["own"], str):
                candidates = own.get(value["own"], [])
                if len(candidates) != 1:
                    notices.append(f"location link {index + 1} not carried over: the target has "
                                   f"{'no' if not candidates else 'several'} {value['own']} location(s)")
                    ends.append("skip")
                else:
                    ends.append(candidates[0])
            else:
                errors.append((where, f"{side}: expected a location code or {{\"own\": <kind>}}"))
                ends.append(None)
        if None in ends or "skip" in ends:
            continue
        out.append((ends[0], ends[1]))
    return sorted(set(out)), notices


def _validate_rules(bundle: dict, target, new_name: str, errors, notices, at) -> dict[str, list[dict]]:
    """Rules are checked with the models' own full_clean (names resolved for the target)."""
    out: dict[str, list[dict]] = {}
    for key, model_name, fields in (("hold_rules", "HoldRule", HOLD_FIELDS), ("routing_rules", "RoutingRule", ROUTING_FIELDS)):
        rows = bundle.get(key)
        if rows is None:
            continue
        model = _model("orders", model_name, required=False)
        if model is None:
            if rows:
                errors.append((key, f"this installation has no {model_name}; cannot import {len(rows)} rule(s)"))
            continue
        if not isinstance(rows, list):
            errors.append((key, "expected a list of rules"))
            continue
        allowed = set(fields) | ({"locations"} if key == "routing_rules" else set())
        target_name = target.name if target is not None else new_name
        names = set()
        good = []
        for index, row in enumerate(rows):
            where = at(key, index, f"{key}[{index}]")
            if not isinstance(row, dict):
                errors.append((where, "expected an object"))
                continue
            unknown = set(row) - allowed
            if unknown:
                errors.append((where, f"unknown field(s) {', '.join(sorted(unknown))}"))
                continue
            if not isinstance(row.get("name"), str) or not row["name"].strip():
                errors.append((where, "name is required"))
                continue
            name = row["name"].replace(NAME_PLACEHOLDER, target_name)
            if name in names:
                errors.append((where, f"rule {name!r} appears twice"))
            names.add(name)
            values = {f: row[f] for f in fields if f in row and f != "name"}
            instance = model(name=name, **values)
            try:
                instance.full_clean(exclude=["integration", "name"], validate_unique=False)
            except ValidationError as exc:
                for field_name, problems in exc.message_dict.items():
                    errors.append((where, f"{field_name}: {'; '.join(problems)}"))
                continue
            taken = model.objects.filter(name=name)
            if target is not None:
                taken = taken.exclude(integration=target)
            if taken.exists():
                errors.append((where, f"rule name {name!r} is already used by another integration's rule"))
                continue
            entry = {"name": name, "values": values}
            if key == "routing_rules":
                entry["locations"] = _validate_candidates(row.get("locations", []), target, where, errors, notices)
                if entry["locations"] is None:
                    continue
            good.append(entry)
        out[key] = good
    return out


def _validate_candidates(rows, target, where, errors, notices) -> list[tuple[int, int]] | None:
    Location = _model("inventory", "Location")
    if not isinstance(rows, list):
        errors.append((where, "locations: expected a list of {location, rank}"))
        return None
    out = []
    own: dict[str, list[int]] = {}
    if target is not None:
        for pk, kind in Location.objects.filter(integration=target).values_list("pk", "kind"):
            own.setdefault(kind, []).append(pk)
    codes = {r.get("location") for r in rows if isinstance(r, dict) and isinstance(r.get("location"), str)}
    by_code = dict(Location.objects.filter(code__in=codes).values_list("code", "pk"))
    ok = True
    for row in rows:
        ref = row.get("location") if isinstance(row, dict) else None
        rank = row.get("rank") if isinstance(row, dict) else None
        if not isinstance(rank, int) or isinstance(rank, bool) or rank < 0:
            errors.append((where, f"locations: rank must be a whole number, got {rank!r}"))
            ok = False
            continue
        if isinstance(ref, str):
            if ref not in by_code:
                errors.append((where, f"locations: location {ref!r} does not exist"))
                ok = False
                continue
            out.append((by_code[ref], rank))
        elif isinstance(ref, dict) and isinstance(ref.get("own"), str):
            candidates = own.get(ref["own"], [])
            if len(candidates) != 1:
                notices.append(f"{where}: candidate location not carried over: the target has "
                               f"{'no' if not candidates else 'several'} {ref['own']} location(s)")
                continue
            out.append((candidates[0], rank))
        else:
            errors.append((where, "locations: expected a location code or {\"own\": <kind>}"))
            ok = False
    return out if ok else None


def _diff(plan: ImportPlan, target: Integration | None, spec) -> dict:
    if target is not None:
        current = configuration_snapshot(integration=target)
        current_links = set(_own_links(target))
    else:
        current = {"settings": spec.defaults(), "mappings": [], "flows": [
            {"flow": f.code, "enabled": False, "interval_seconds": int(f.default_interval.total_seconds())} for f in spec.flows]}
        current_links = set()
    diff: dict = {}
    settings = {k: [current["settings"].get(k), v] for k, v in plan.settings.items() if current["settings"].get(k) != v}
    diff["settings"] = settings
    old_maps = {(m["kind"], m["source"]): m for m in current["mappings"]}
    new_maps = {(m["kind"], m["source"]): m for m in plan.mappings}
    diff["mappings"] = {
        "added": [new_maps[k] for k in sorted(new_maps.keys() - old_maps.keys())],
        "removed": [old_maps[k] for k in sorted(old_maps.keys() - new_maps.keys())],
        "changed": [{"kind": k[0], "source": k[1], "target": [old_maps[k]["target"], new_maps[k]["target"]],
                     "notes": [old_maps[k]["notes"], new_maps[k]["notes"]]}
                    for k in sorted(old_maps.keys() & new_maps.keys()) if old_maps[k] != new_maps[k]],
    }
    if not any(diff["mappings"].values()):
        diff["mappings"] = {}
    old_flows = {f["flow"]: f for f in current["flows"]}
    diff["flows"] = {f["flow"]: [_flow_text(old_flows.get(f["flow"])), _flow_text(f)]
                     for f in plan.flows if old_flows.get(f["flow"]) != f}
    wanted = set(plan.links)
    names = _location_names(wanted | current_links)
    diff["location_links"] = {
        "added": [f"{names[s]} → {names[t]}" for s, t in sorted(wanted - current_links)],
        "removed": [f"{names[s]} → {names[t]}" for s, t in sorted(current_links - wanted)],
    }
    if not any(diff["location_links"].values()):
        diff["location_links"] = {}
    current_rules = _rules_resolved(target) if target is not None else {}
    for key in RULE_KEYS:
        if key not in plan.rules:
            continue
        old = {r["name"]: r for r in current_rules.get(key, [])}
        new = {r["name"]: r for r in plan.rules[key]}
        diff[key] = {
            "added": sorted(new.keys() - old.keys()),
            "removed": sorted(old.keys() - new.keys()),
            "changed": sorted(n for n in new.keys() & old.keys() if _rule_cmp(new[n]) != _rule_cmp(old[n])),
        }
        if not any(diff[key].values()):
            diff[key] = {}
    return diff


def _rule_cmp(rule: dict):
    return json.dumps({"values": rule["values"], "locations": sorted(rule.get("locations", []))}, sort_keys=True, default=str)


def _rules_resolved(integration: Integration) -> dict[str, list[dict]]:
    """The integration's rules in the same shape as validated file rules (names as stored, pk pairs)."""
    HoldRule, RoutingRule = _model("orders", "HoldRule", required=False), _model("orders", "RoutingRule", required=False)
    out = {}
    if HoldRule is not None:
        out["hold_rules"] = [{"name": r.name, "values": {f: getattr(r, f) for f in HOLD_FIELDS if f != "name"}}
                             for r in HoldRule.objects.filter(integration=integration)]
    if RoutingRule is not None:
        out["routing_rules"] = [{"name": r.name, "values": {f: getattr(r, f) for f in ROUTING_FIELDS if f != "name"},
                                 "locations": [(c.location_id, c.rank) for c in r.candidates.all()]}
                                for r in RoutingRule.objects.filter(integration=integration).prefetch_related("candidates")]
    return out


def _flow_text(flow: dict | None) -> str | None:
    if flow is None:
        return None
    return f"{'on' if flow['enabled'] else 'off'}, every {flow['interval_seconds']} s"


def _own_links(integration: Integration) -> list[tuple[int, int]]:
    """The links export would carry over for this integration (pk pairs)."""
    LocationLink, Location = _model("inventory", "LocationLink"), _model("inventory", "Location")
    kinds: dict[str, int] = {}
    for kind in Location.objects.filter(integration=integration).values_list("kind", flat=True):
        kinds[kind] = kinds.get(kind, 0) + 1
    qs = (LocationLink.objects.filter(source__integration=integration) | LocationLink.objects.filter(target__integration=integration))
    out = []
    for link in qs.select_related("source", "target"):
        ends = (link.source, link.target)
        if all(loc.integration_id != integration.pk or kinds.get(loc.kind) == 1 for loc in ends):
            out.append((link.source_id, link.target_id))
    return out


def _location_names(pairs) -> dict[int, str]:
    ids = {pk for pair in pairs for pk in pair}
    Location = _model("inventory", "Location")
    return dict(Location.objects.filter(pk__in=ids).values_list("pk", "code"))


# --- apply ----------------------------------------------------------------------------------

MAPPINGS_REPLACE, MAPPINGS_MERGE = "replace", "merge"


def plan_keep_target_mappings(*, plan: ImportPlan, target: Integration) -> list[dict]:
    """Merge: the target's mappings the file does not name (e.g. a UK shop's region-specific carriers) are kept; the
    file's own mappings still add and change. Returns the kept ones; the plan's difference is recomputed."""
    in_file = {(m["kind"], m["source"]) for m in plan.mappings}
    kept = [{"kind": m.kind, "source": m.source, "target": m.target, "notes": m.notes}
            for m in Mapping.objects.filter(integration=target).order_by("kind", "source") if (m.kind, m.source) not in in_file]
    if kept:
        plan.mappings = plan.mappings + kept
        plan.diff = _diff(plan, target, registry.get_connector(plan.connector))
    return kept


def configuration_import(*, content: bytes | str, target: Integration | None = None, new_name: str = "",
                         connector: str | None = None, fmt: str | None = None, user=None, dry_run: bool = False,
                         source: str = SettingsChange.Source.IMPORT,
                         mappings_mode: str = MAPPINGS_REPLACE) -> tuple[Integration | None, ImportPlan]:
    """Parse, validate completely, then (unless dry_run) apply in one transaction. Raises
    ConfigurationInvalid with every problem and changes nothing on bad input. With no target, a new
    integration named ``new_name`` is created (of the file's connector, or ``connector`` which must match).
    ``mappings_mode``: "replace" (the target ends with exactly the file's mappings) or "merge" (the target's mappings
    the file does not name are kept)."""
    if mappings_mode not in (MAPPINGS_REPLACE, MAPPINGS_MERGE):
        raise ConfigurationInvalid([("mappings_mode", f"must be {MAPPINGS_REPLACE!r} or {MAPPINGS_MERGE!r}")])
    bundle, where = configuration_parse(content=content, fmt=fmt)
    if target is None:
        if not new_name.strip():
            raise ConfigurationInvalid([("target", "give an existing integration or a name for a new one")])
        if Integration.objects.filter(name=new_name).exists():
            raise ConfigurationInvalid([("target", f"an integration named {new_name!r} already exists")])
    plan = configuration_validate(bundle=bundle, target=target, where=where, connector=connector, new_name=new_name)
    if mappings_mode == MAPPINGS_MERGE and target is not None:
        plan_keep_target_mappings(plan=plan, target=target)
    if dry_run:
        return target, plan
    integration = configuration_apply(plan=plan, target=target, new_name=new_name, user=user, source=source)
    return integration, plan


@transaction.atomic
def configuration_apply(*, plan: ImportPlan, target: Integration | None, new_name: str = "", user=None,
                        source: str = SettingsChange.Source.IMPORT) -> Integration:
    """Write a validated plan: settings, mappings (replaced), flow schedules, links; one history row."""
    if target is None:
        target = services.integration_create(name=new_name, connector=plan.connector, settings=plan.settings, user=user)
    if not plan.has_changes:
        return target
    target = Integration.objects.select_for_update().get(pk=target.pk)
    if plan.diff.get("settings"):
        spec = target.spec
        merged = {**spec.defaults(), **{k: v for k, v in target.settings.items() if k in {s.key for s in spec.settings}},
                  **plan.settings}
        target.settings = merged
        target.save(update_fields=["settings", "updated_at"])
    services.flow_states_sync_switches(integration=target)
    if plan.diff.get("mappings"):
        wanted = {(m["kind"], m["source"]): m for m in plan.mappings}
        existing = {(m.kind, m.source): m for m in Mapping.objects.filter(integration=target)}
        Mapping.objects.filter(pk__in=[m.pk for k, m in existing.items() if k not in wanted]).delete()
        to_update = []
        for key, values in wanted.items():
            row = existing.get(key)
            if row is None:
                continue
            if (row.target, row.notes) != (values["target"], values["notes"]):
                row.target, row.notes = values["target"], values["notes"]
                to_update.append(row)
        Mapping.objects.bulk_update(to_update, ["target", "notes", "updated_at"]) if to_update else None
        Mapping.objects.bulk_create([Mapping(integration=target, **values) for key, values in wanted.items() if key not in existing])
    for flow in plan.flows:
        FlowState.objects.filter(integration=target, flow=flow["flow"]).update(
            enabled=flow["enabled"], interval=timedelta(seconds=flow["interval_seconds"]))
    if plan.diff.get("location_links"):
        LocationLink = _model("inventory", "LocationLink")
        current = set(_own_links(target))
        wanted = set(plan.links)
        for s, t in current - wanted:
            LocationLink.objects.filter(source_id=s, target_id=t).delete()
        LocationLink.objects.bulk_create([LocationLink(source_id=s, target_id=t) for s, t in sorted(wanted - current)],
                                         ignore_conflicts=True)
    try:
        _apply_rules(plan, target)
    except (ValidationError, ObjectDoesNotExist) as exc:  # rolls the whole import back
        raise ConfigurationInvalid([("rules", str(exc))]) from None
    changed = [name for name, part in plan.diff.items() if part]
    SettingsChange.objects.create(integration=target, user=user, source=source,
                                  summary=f"configuration imported: {', '.join(changed)}"[:255], diff=plan.diff)
    return target


def _apply_rules(plan: ImportPlan, target: Integration) -> None:
    """Upsert the file's rules by name on the target; delete the target's rules not in the file."""
    for key, model_name in (("hold_rules", "HoldRule"), ("routing_rules", "RoutingRule")):
        if not plan.diff.get(key):
            continue
        model = _model("orders", model_name)
        wanted = {r["name"]: r for r in plan.rules[key]}
        model.objects.filter(integration=target).exclude(name__in=list(wanted)).delete()
        existing = {r.name: r for r in model.objects.filter(integration=target)}
        for name, rule in wanted.items():
            instance = existing.get(name) or model(name=name, integration=target)
            for field_name, value in rule["values"].items():
                setattr(instance, field_name, value)
            instance.full_clean()
            instance.save()
            if key == "routing_rules":
                Candidate = _model("orders", "RoutingRuleLocation")
                Candidate.objects.filter(rule=instance).delete()
                Candidate.objects.bulk_create([Candidate(rule=instance, location_id=loc, rank=rank) for loc, rank in rule["locations"]])
