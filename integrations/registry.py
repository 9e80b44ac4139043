"""Connector registry: each connector declares its settings schema, credential fields and flows.

One declaration drives the admin form, defaults, validation, export/import and the scheduler
(the idea of Saleor's CONFIG_STRUCTURE)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from importlib import import_module
from typing import Any, Callable

from django.conf import settings as django_settings

# Setting types. Values are stored as JSON: bool, str, list[str], int, ISO datetime string.
BOOL, TEXT, TEXT_LIST, CHOICE, MULTI_CHOICE, DATETIME, INT, URL, LOCATION = (
    "bool", "text", "text_list", "choice", "multi_choice", "datetime", "int", "url", "location",
)

CHANNEL, FULFILLMENT = "channel", "fulfillment"


@dataclass(frozen=True)
class SettingSpec:
    key: str
    label: str
    section: str
    type: str
    default: Any = None
    help: str = ""
    choices: tuple[tuple[str, str], ...] = ()
    max_length: int | None = None
    # Carried over by configuration export/import (False for shop-specific values).
    portable: bool = True


@dataclass(frozen=True)
class CredentialSpec:
    key: str
    label: str
    secret: bool = True
    required: bool = True
    help: str = ""


@dataclass(frozen=True)
class FlowSpec:
    code: str
    label: str
    direction: str  # "pull" | "push"
    entity: str  # orders, inventory, fulfillments, products, ...
    flow_class: str  # dotted path to the Flow subclass
    default_interval: timedelta = timedelta(minutes=5)
    # The setting that switches the flow on ("Pull orders from TikTok"); None: always on when enabled.
    enable_setting: str | None = None
    # For a dropdown switch ("Process inventory information": pull / push): the flow is on when the setting holds
    # this value. Empty: on when the setting is truthy.
    enable_value: str = ""
    # Flows that cannot run while the integration is paused for authorization (most of them).
    needs_auth: bool = True
    # The params key that narrows a run to some remote ids ("order_ids"): webhooks and record retries use it.
    target_param: str = ""
    # An inventory push asked to run at once when the stock of a location it publishes moves: dotted path to
    # `fn(integration) -> set of Location ids` the push reads from (integrations/inventory_chain.py); "" = off.
    stock_sources: str = ""


@dataclass(frozen=True)
class ConnectorSpec:
    code: str
    label: str
    role: str
    settings: tuple[SettingSpec, ...]
    credentials: tuple[CredentialSpec, ...]
    flows: tuple[FlowSpec, ...] = ()
    sections: tuple[str, ...] = ()
    environments: tuple[tuple[str, str], ...] = ()
    # Whether Channel Options rows of this connector may hold a channel SKU (TikTok: no).
    supports_channel_sku: bool = True
    # Dotted path to `fn(integration) -> str` that checks credentials against the remote; "" = none.
    connection_tester: str = ""
    # Mapping kinds this connector uses (shipping_method, carrier, ...), for the admin and exports.
    mapping_kinds: tuple[str, ...] = ()
    readme: str = ""
    # Back-office hooks, all optional: admin_links, environment_setting, exception_help, order_url (a template with
    # {external_id} or a dotted path to fn(order) -> url), mapping_targets (dotted path to fn(integration, kind) ->
    # [(value, label)], no remote call), mapping_targets_strict (kinds whose targets must be among those), mapping_help
    # ({kind: text}). README "Working in the back office".
    extra: dict = field(default_factory=dict)

    def setting(self, key: str) -> SettingSpec:
        for spec in self.settings:
            if spec.key == key:
                return spec
        raise KeyError(f"{self.code} has no setting {key!r}")

    def flow(self, code: str) -> FlowSpec:
        for spec in self.flows:
            if spec.code == code:
                return spec
        raise KeyError(f"{self.code} has no flow {code!r}")

    def defaults(self) -> dict[str, Any]:
        return {s.key: _copy(s.default) for s in self.settings}

    def section_names(self) -> list[str]:
        seen = list(self.sections)
        for s in self.settings:
            if s.section not in seen:
                seen.append(s.section)
        return seen


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value


CONNECTORS: dict[str, ConnectorSpec] = {}

# Connector packages, listed explicitly (easier to grep than auto-discovery). Each exposes SPEC.
CONNECTOR_MODULES = [
    "integrations.connectors.tiktok",
    "integrations.connectors.osa",
    "integrations.connectors.katana",
    "integrations.connectors.acumatica",
]


def register(spec: ConnectorSpec) -> ConnectorSpec:
    from integrations.redaction import secret_names_register

    CONNECTORS[spec.code] = spec
    # A connector's secret credential fields are secret names wherever they appear in text (redaction.py).
    secret_names_register(*(c.key for c in spec.credentials if c.secret))
    return spec


def unregister(code: str) -> None:
    CONNECTORS.pop(code, None)


def load_connectors() -> None:
    modules = list(CONNECTOR_MODULES) + list(getattr(django_settings, "EXTRA_CONNECTOR_MODULES", []))
    for dotted in modules:
        try:
            module = import_module(dotted)
        except ModuleNotFoundError as exc:
            if exc.name == dotted:  # connector package not written yet
                continue
            raise
        spec = getattr(module, "SPEC", None)
        if spec is not None:
            register(spec)


def get_connector(code: str) -> ConnectorSpec:
    try:
        return CONNECTORS[code]
    except KeyError:
        raise KeyError(f"Unknown connector {code!r}; known: {', '.join(sorted(CONNECTORS))}") from None


def connector_choices() -> list[tuple[str, str]]:
    return sorted(((c.code, c.label) for c in CONNECTORS.values()), key=lambda c: c[1])


def import_string(dotted: str) -> Callable:
    module, _, name = dotted.rpartition(".")
    return getattr(import_module(module), name)
