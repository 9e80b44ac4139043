"""Configuration bundles: export, round trip, secrets, validation (nothing applied on bad input), no-op."""
import dataclasses
import json
from datetime import timedelta

import pytest

from catalog.models import Product
from integrations import configuration as cfg
from integrations import registry, services
from integrations.models import FlowState, Integration, Mapping, SettingsChange
from inventory.models import Location, LocationLink
from orders.models import HoldRule, RoutingRule, RoutingRuleLocation
from tests.integrations import fake_connector

SECRETS = {"api_key": "KEY-recognisable-4711", "api_secret": "SECRET-recognisable-0815",
           "access_token": "TOKEN-recognisable-9999"}

CFG_SPEC = dataclasses.replace(
    fake_connector.SPEC,
    code="fakecfg",
    label="Fake configurable",
    settings=fake_connector.SPEC.settings + (
        registry.SettingSpec("mode", "Mode", "General", registry.CHOICE, default="fast", choices=(("fast", "Fast"), ("slow", "Slow"))),
        registry.SettingSpec("batch", "Batch size", "General", registry.INT, default=50),
        registry.SettingSpec("shop_code", "Shop code", "General", registry.TEXT, default="", portable=False),
        registry.SettingSpec("return_location", "Return location", "General", registry.LOCATION, default=""),
    ),
    credentials=fake_connector.SPEC.credentials + (registry.CredentialSpec("access_token", "Access token"),),
)
OTHER_SPEC = dataclasses.replace(fake_connector.SPEC, code="fakeother", label="Other fake")


@pytest.fixture(autouse=True)
def cfg_registered():
    registry.register(CFG_SPEC)
    registry.register(OTHER_SPEC)
    yield
    registry.unregister("fakecfg")
    registry.unregister("fakeother")


@pytest.fixture
def source(db):
    """A fully configured integration: settings, secrets, remote ids, mappings, flows, cursor, links."""
    Product.objects.create(sku="MASTER-1", name="Master one")
    integration = services.integration_create(
        name="Shop US", connector="fakecfg", credentials=SECRETS,
        settings={"note": "=HYPERLINK(\"x\")", "statuses": ["a", "b"], "skus": ["-A1", "+B2", "@C3"], "mode": "slow",
                  "batch": -5, "since": "2024-01-02T03:04:05+00:00", "shop_code": "US-ONLY-SHOP"},
    )
    integration.remote_account_id = "REMOTE-SHOP-ID-77"
    integration.remote_state = {"shop_cipher": "CIPHER-REMOTE-88"}
    integration.save()
    Mapping.objects.create(integration=integration, kind="shipping_method", source="Standard", target="GROUND", notes="tab\tnote")
    Mapping.objects.create(integration=integration, kind="carrier", source="USPS", target="=cmd|' /C calc'!A0")
    Mapping.objects.create(integration=integration, kind="sku", source="TT-1", target="MASTER-1")
    FlowState.objects.filter(integration=integration, flow="pull_things").update(
        enabled=True, interval=timedelta(minutes=7), cursor={"page": "CURSOR-SECRET-123"})
    warehouse = Location.objects.create(code="osa-main", name="OSA main", kind="3pl_managed")
    own = Location.objects.create(code="us-fbt", name="US FBT", kind="fbt", integration=integration, external_id="WH-REMOTE-1")
    LocationLink.objects.create(source=warehouse, target=own)
    HoldRule.objects.create(name="Shop US hold", integration=integration, minutes=45, tags=["vip"], clock="sync_time")
    rule = RoutingRule.objects.create(name="Shop US to OSA", integration=integration, position=5, countries=["US"], allow_split=True)
    RoutingRuleLocation.objects.create(rule=rule, location=warehouse, rank=1)
    RoutingRuleLocation.objects.create(rule=rule, location=own, rank=2)
    HoldRule.objects.create(name="Global hold", integration=None)  # names no integration: not exported
    return integration


@pytest.fixture
def empty_target(db):
    target = services.integration_create(name="Shop UK", connector="fakecfg", credentials={"api_key": "uk-key"})
    Location.objects.create(code="uk-fbt", name="UK FBT", kind="fbt", integration=target, external_id="WH-UK")
    return target


def state_of(integration):
    integration.refresh_from_db()
    return {
        "config": cfg.configuration_snapshot(integration=integration),
        "settings_raw": dict(integration.settings),
        "credentials": integration.get_credentials(),
        "history": SettingsChange.objects.filter(integration=integration).count(),
        "links": sorted(LocationLink.objects.values_list("source__code", "target__code")),
        "cursor": list(FlowState.objects.filter(integration=integration).values_list("cursor", flat=True)),
        "rules": sorted(HoldRule.objects.values_list("name", "minutes")) + sorted(RoutingRuleLocation.objects.values_list("rule__name", "location__code", "rank")),
    }


@pytest.mark.parametrize("fmt", [cfg.JSON, cfg.CSV], ids=["json_case", "csv_case"])
def test_round_trip_into_empty_integration_gives_identical_configuration(source, empty_target, fmt, admin_user):
    # given
    content = cfg.configuration_export(integration=source, fmt=fmt)

    # when
    target, plan = cfg.configuration_import(content=content, target=empty_target, user=admin_user)

    # then
    source_config = cfg.configuration_snapshot(integration=source)
    assert cfg.configuration_snapshot(integration=target) == source_config
    assert source_config["settings"]["batch"] == -5 and source_config["settings"]["note"] == "=HYPERLINK(\"x\")"
    assert sorted(LocationLink.objects.values_list("source__code", "target__code")) == [("osa-main", "uk-fbt"), ("osa-main", "us-fbt")]
    target.refresh_from_db()
    assert "shop_code" not in target.settings or target.settings["shop_code"] == ""
    assert target.get_credentials() == {"api_key": "uk-key"}
    assert FlowState.objects.get(integration=target).cursor == {}
    change = SettingsChange.objects.get(integration=target)
    assert (change.source, change.user) == (SettingsChange.Source.IMPORT, admin_user)
    assert change.diff["settings"]["mode"] == ["fast", "slow"]
    assert change.diff["flows"] == {"pull_things": ["on, every 60 s", "on, every 420 s"]}
    assert change.diff["hold_rules"] == {"added": ["Shop UK hold"], "removed": [], "changed": []}
    uk_rule = RoutingRule.objects.get(integration=target)
    assert (uk_rule.name, uk_rule.countries, uk_rule.allow_split) == ("Shop UK to OSA", ["US"], True)
    assert list(uk_rule.candidates.values_list("location__code", "rank")) == [("osa-main", 1), ("uk-fbt", 2)]
    assert HoldRule.objects.get(integration=target).clock == "sync_time"


@pytest.mark.parametrize("fmt", [cfg.JSON, cfg.CSV], ids=["json_case", "csv_case"])
def test_export_never_contains_secrets_cursors_or_remote_ids(source, fmt):
    # when
    content = cfg.configuration_export(integration=source, fmt=fmt)

    # then
    for secret in [*SECRETS.values(), "REMOTE-SHOP-ID-77", "CIPHER-REMOTE-88", "CURSOR-SECRET-123", "WH-REMOTE-1",
                   "US-ONLY-SHOP", source.credentials_encrypted]:
        assert secret.encode() not in content
    assert b"credentials (API keys, secrets, access and refresh tokens)" in content
    assert b"setting shop_code (Shop code): shop-specific" in content


def test_json_export_document_shape(source):
    # when
    bundle = json.loads(cfg.configuration_export(integration=source, fmt=cfg.JSON))

    # then
    assert (bundle["format"], bundle["format_version"], bundle["connector"]) == ("switchyard.configuration", 1, "fakecfg")
    assert "shop_code" not in bundle["settings"]
    assert bundle["flows"] == [{"flow": "pull_things", "enabled": True, "interval_seconds": 420}]
    assert bundle["location_links"] == [{"source": "osa-main", "target": {"own": "fbt"}}]
    assert {"kind": "sku", "source": "TT-1", "target": "MASTER-1", "notes": ""} in bundle["mappings"]
    assert [r["name"] for r in bundle["hold_rules"]] == ["{integration} hold"]
    assert bundle["routing_rules"][0]["locations"] == [{"location": "osa-main", "rank": 1}, {"location": {"own": "fbt"}, "rank": 2}]


def test_csv_export_escapes_formulae_in_every_dangerous_cell(source):
    # when
    text = cfg.configuration_export(integration=source, fmt=cfg.CSV).decode()

    # then
    import csv
    import io
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    assert "'=cmd|' /C calc'!A0" in cells
    assert "'-5" in cells
    assert "'\"=HYPERLINK(\\\"x\\\")\"" not in cells  # JSON text values start with a quote, not "="
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert "tab\tnote" in cells  # a tab inside a cell is harmless; only a leading one is escaped


def test_csv_escape_and_unescape_are_exact_inverses():
    for value in ["=1+1", "+1", "-1", "@SUM(A1)", "\t=x", "\r=x", "'quoted", "''=x", "plain", ""]:
        assert cfg.csv_unescape(cfg.csv_escape(value)) == value
        assert not cfg.csv_escape(value)[:1] in ("=", "+", "-", "@", "\t", "\r")


@pytest.mark.parametrize("fmt", [cfg.JSON, cfg.CSV], ids=["json_case", "csv_case"])
def test_import_of_own_export_changes_nothing(source, fmt):
    # given
    content = cfg.configuration_export(integration=source, fmt=fmt)
    before = state_of(source)

    # when
    _, plan = cfg.configuration_import(content=content, target=source)

    # then
    assert plan.has_changes is False
    assert state_of(source) == before


def test_import_creates_a_new_integration_of_the_files_connector(source, admin_user):
    # given
    content = cfg.configuration_export(integration=source, fmt=cfg.JSON)

    # when
    created, _ = cfg.configuration_import(content=content, new_name="Shop DE", user=admin_user)

    # then
    assert (created.name, created.connector, created.get_credentials()) == ("Shop DE", "fakecfg", {})
    expected = cfg.configuration_snapshot(integration=source)
    got = cfg.configuration_snapshot(integration=created)
    assert got["settings"] == expected["settings"] and got["mappings"] == expected["mappings"]
    assert got["flows"] == expected["flows"]
    assert got["location_links"] == []  # Shop DE has no FBT location yet: the link is not carried over


def test_dry_run_reports_the_difference_and_changes_nothing(source, empty_target):
    # given
    content = cfg.configuration_export(integration=source, fmt=cfg.JSON)
    before = state_of(empty_target)

    # when
    _, plan = cfg.configuration_import(content=content, target=empty_target, dry_run=True)

    # then
    assert plan.diff["settings"]["statuses"] == [["a"], ["a", "b"]]
    assert {"kind": "carrier", "source": "USPS", "target": "=cmd|' /C calc'!A0", "notes": ""} in plan.diff["mappings"]["added"]
    assert plan.diff["location_links"] == {"added": ["osa-main → uk-fbt"], "removed": []}
    assert state_of(empty_target) == before


def test_import_replaces_mappings_not_in_the_file(source, empty_target):
    # given
    Mapping.objects.create(integration=empty_target, kind="carrier", source="RoyalMail", target="RM")
    Mapping.objects.create(integration=empty_target, kind="shipping_method", source="Standard", target="OLD")
    content = cfg.configuration_export(integration=source, fmt=cfg.JSON)

    # when
    _, plan = cfg.configuration_import(content=content, target=empty_target)

    # then
    assert plan.diff["mappings"]["removed"] == [{"kind": "carrier", "source": "RoyalMail", "target": "RM", "notes": ""}]
    assert plan.diff["mappings"]["changed"] == [{"kind": "shipping_method", "source": "Standard", "target": ["OLD", "GROUND"], "notes": ["", "tab\tnote"]}]
    assert sorted(Mapping.objects.filter(integration=empty_target).values_list("kind", "source", "target")) == [
        ("carrier", "USPS", "=cmd|' /C calc'!A0"), ("shipping_method", "Standard", "GROUND"), ("sku", "TT-1", "MASTER-1")]


def _json_bundle(source, **changes):
    bundle = json.loads(cfg.configuration_export(integration=source, fmt=cfg.JSON))
    for path, value in changes.items():
        section, _, key = path.partition("__")
        if key:
            if isinstance(bundle[section], list):
                bundle[section][int(key)] = value
            else:
                bundle[section][key] = value
        else:
            bundle[section] = value
    return json.dumps(bundle).encode()


BAD_JSON_CASES = [
    ("unknown_key", {"settings__colour": "red"}, ("settings.colour", "unknown setting for connector fakecfg")),
    ("wrong_type", {"settings__pull_things": "yes"}, ("settings.pull_things", "expected true or false, got 'yes'")),
    ("wrong_int_type", {"settings__batch": "10"}, ("settings.batch", "expected an integer, got '10'")),
    ("outside_options", {"settings__mode": "turbo"}, ("settings.mode", "'turbo' is not one of: fast, slow")),
    ("multi_outside_options", {"settings__statuses": ["a", "z"]}, ("settings.statuses", "not valid options: z; allowed: a, b")),
    ("shop_specific_key", {"settings__shop_code": "UK"}, ("settings.shop_code", "shop-specific setting; it cannot be imported")),
    ("missing_location", {"settings__return_location": "nowhere"}, ("settings.return_location", "no location 'nowhere' for this integration")),
    ("sku_mapping_names_missing_product", {"mappings__2": {"kind": "sku", "source": "TT-9", "target": "NO-SUCH-SKU", "notes": ""}},
     ("mappings[2]", "SKU mapping target 'NO-SUCH-SKU' names no product")),
    ("unknown_mapping_kind", {"mappings__0": {"kind": "colour", "source": "a", "target": "b", "notes": ""}},
     ("mappings[0]", "mapping kind 'colour' is not one of: attribute, carrier, order_type, payment_method, shipping_method, sku")),
    ("duplicate_mapping", {"mappings__1": {"kind": "sku", "source": "TT-1", "target": "MASTER-1", "notes": ""}},
     ("mappings[2]", "sku 'TT-1' is mapped twice")),
    ("link_names_missing_location", {"location_links__0": {"source": "gone-wh", "target": {"own": "fbt"}}},
     ("location_links[0]", "source location 'gone-wh' does not exist")),
    ("unknown_flow", {"flows__0": {"flow": "push_moon", "enabled": True, "interval_seconds": 60}},
     ("flows[0]", "unknown flow 'push_moon' for connector fakecfg")),
    ("bad_interval", {"flows__0": {"flow": "pull_things", "enabled": True, "interval_seconds": 0}},
     ("flows[0]", "interval_seconds: expected a whole number of seconds from 30 to 604800, got 0")),
    ("negative_interval", {"flows__0": {"flow": "pull_things", "enabled": True, "interval_seconds": -5}},
     ("flows[0]", "interval_seconds: expected a whole number of seconds from 30 to 604800, got -5")),
    ("sub_30s_interval", {"flows__0": {"flow": "pull_things", "enabled": True, "interval_seconds": 29}},
     ("flows[0]", "interval_seconds: expected a whole number of seconds from 30 to 604800, got 29")),
    ("other_connector", {"connector": "fakeother"}, ("connector", "file is for connector 'fakeother' but integration 'Shop UK' is 'fakecfg'")),
    ("newer_format_version", {"format_version": 2}, ("format_version", "format version 2 is newer than this Switchyard supports (1); upgrade first")),
    ("hold_rule_bad_option", {"hold_rules__0": {"name": "{integration} hold", "clock": "never"}},
     ("hold_rules[0]", "clock: Value 'never' is not a valid choice.")),
    ("routing_rule_missing_location", {"routing_rules__0": {"name": "r", "locations": [{"location": "gone", "rank": 1}]}},
     ("routing_rules[0]", "locations: location 'gone' does not exist")),
    ("rule_name_taken_elsewhere", {"hold_rules__0": {"name": "Global hold"}},
     ("hold_rules[0]", "rule name 'Global hold' is already used by another integration's rule")),
    ("not_a_bundle", {"format": "something.else"}, ("format", "not a Switchyard configuration file (format must be 'switchyard.configuration')")),
]


@pytest.mark.parametrize("changes,expected", [c[1:] for c in BAD_JSON_CASES], ids=[c[0] + "_case" for c in BAD_JSON_CASES])
def test_bad_json_bundle_is_reported_and_nothing_applied(source, empty_target, changes, expected):
    # given
    content = _json_bundle(source, **changes)
    before = state_of(empty_target)

    # when
    with pytest.raises(cfg.ConfigurationInvalid) as exc:
        cfg.configuration_import(content=content, target=empty_target)

    # then
    assert expected in exc.value.errors
    assert state_of(empty_target) == before


def test_every_problem_is_reported_at_once(source, empty_target):
    # given
    content = _json_bundle(source, settings__colour="red", settings__mode="turbo",
                           mappings__0={"kind": "sku", "source": "X", "target": "NOPE", "notes": ""})

    # when
    with pytest.raises(cfg.ConfigurationInvalid) as exc:
        cfg.configuration_import(content=content, target=empty_target)

    # then
    assert [where for where, _ in exc.value.errors] == ["settings.colour", "settings.mode", "mappings[0]"]
    assert Mapping.objects.filter(integration=empty_target).exists() is False


def test_malformed_json_is_reported_and_nothing_applied(source, empty_target):
    # given
    before = state_of(empty_target)

    # when
    with pytest.raises(cfg.ConfigurationInvalid) as exc:
        cfg.configuration_import(content=b'{"format": "switchyard.configuration", ', target=empty_target)

    # then
    assert exc.value.errors[0][0] == "file"
    assert exc.value.errors[0][1].startswith("malformed JSON at line 1 column")
    assert state_of(empty_target) == before


def _csv_with(source, old: str, new: str) -> bytes:
    text = cfg.configuration_export(integration=source, fmt=cfg.CSV).decode()
    assert old in text
    return text.replace(old, new, 1).encode()


BAD_CSV_CASES = [
    ("unknown_key_row", ("setting,note,", "setting,colour,"), ("row 8", "unknown setting for connector fakecfg")),
    ("wrong_type_row", ("setting,pull_things,true", "setting,pull_things,\"\"\"yes\"\"\""), ("row 7", "expected true or false, got 'yes'")),
    ("value_not_json", ("setting,mode,\"\"\"slow\"\"\"", "setting,mode,slow"),
     ("row 12", "value is not valid JSON (Expecting value); text values are written in double quotes")),
    ("unknown_item", ("mapping,", "mappping,"), ("row 15", "unknown item type 'mappping'")),
    ("sku_mapping_missing_product", ("MASTER-1", "GHOST-1"), ("row 17", "SKU mapping target 'GHOST-1' names no product")),
    ("other_connector", ('meta,connector,"""fakecfg"""', 'meta,connector,"""fakeother"""'),
     ("row 4", "file is for connector 'fakeother' but integration 'Shop UK' is 'fakecfg'")),
    ("newer_version", ("meta,format_version,1", "meta,format_version,3"),
     ("row 3", "format version 3 is newer than this Switchyard supports (1); upgrade first")),
    ("extra_cells", ("mapping,,,sku,TT-1,MASTER-1,", "mapping,,,sku,TT-1,MASTER-1,,surplus"), ("row 17", "more cells than columns")),
    ("not_a_config_csv", ("item,key,value", "sku,name,price"), ("header", "not a configuration CSV: missing column(s) item, key, value")),
]


@pytest.mark.parametrize("replace,expected", [c[1:] for c in BAD_CSV_CASES], ids=[c[0] + "_case" for c in BAD_CSV_CASES])
def test_bad_csv_bundle_is_reported_with_its_row_and_nothing_applied(source, empty_target, replace, expected):
    # given
    content = _csv_with(source, *replace)
    before = state_of(empty_target)

    # when
    with pytest.raises(cfg.ConfigurationInvalid) as exc:
        cfg.configuration_import(content=content, target=empty_target)

    # then
    assert expected in exc.value.errors
    assert state_of(empty_target) == before


def test_new_integration_is_not_created_when_the_file_is_bad(source):
    # given
    content = _json_bundle(source, settings__mode="turbo")

    # when
    with pytest.raises(cfg.ConfigurationInvalid):
        cfg.configuration_import(content=content, new_name="Shop FR")

    # then
    assert Integration.objects.filter(name="Shop FR").exists() is False


def test_new_integration_connector_must_match_the_file(source):
    # given
    content = cfg.configuration_export(integration=source, fmt=cfg.JSON)

    # when
    with pytest.raises(cfg.ConfigurationInvalid) as exc:
        cfg.configuration_import(content=content, new_name="Shop FR", connector="fakeother")

    # then
    assert exc.value.errors == [("connector", "file is for connector 'fakecfg' but --connector is 'fakeother'")]
    assert Integration.objects.filter(name="Shop FR").exists() is False


@pytest.mark.parametrize("code", sorted(set(registry.CONNECTORS) - {"fake", "fakecfg", "fakeother"}) or ["none"])
def test_every_registered_connector_round_trips_its_defaults(db, code):
    # given
    if code == "none":
        pytest.skip("no production connector registered yet")
    spec = registry.get_connector(code)
    secrets = {c.key: f"SECRET-{code}-{c.key}-7f3a9" for c in spec.credentials}
    a = services.integration_create(name="A", connector=code, credentials=secrets)
    b = services.integration_create(name="B", connector=code)

    # when
    files = [cfg.configuration_export(integration=a, fmt=fmt) for fmt in (cfg.JSON, cfg.CSV)]
    for content in files:
        cfg.configuration_import(content=content, target=b)

    # then
    b.refresh_from_db()
    assert cfg.configuration_snapshot(integration=b) == cfg.configuration_snapshot(integration=a)
    for content in files:
        assert b"-7f3a9" not in content
    assert a.get_credentials() == secrets


# --- admin ----------------------------------------------------------------------------------

def staff(django_user_model, *codenames):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user(f"u-{'-'.join(codenames) or 'none'}", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="integrations", codename__in=codenames))
    return user


def test_admin_export_action_downloads_the_bundle_without_secrets(client, django_user_model, source):
    # given
    client.force_login(staff(django_user_model, "view_integration", "export"))

    # when
    response = client.post("/integrations/integration/", {"action": "export_configuration_csv", "_selected_action": [source.pk]})

    # then
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="shop-us.config.csv"'
    assert b"meta,connector,\"\"\"fakecfg\"\"\"" in response.content
    for secret in SECRETS.values():
        assert secret.encode() not in response.content


def test_admin_import_and_export_need_their_own_permissions(client, django_user_model, source):
    # given: may view and change integrations, but neither import nor export
    client.force_login(staff(django_user_model, "view_integration", "change_integration"))

    # when
    changelist = client.get("/integrations/integration/")
    export = client.post("/integrations/integration/", {"action": "export_configuration_json", "_selected_action": [source.pk]})
    upload = client.get("/integrations/integration/configuration/import/")

    # then
    assert b"export_configuration_json" not in changelist.content and b"import_configuration" not in changelist.content
    assert "attachment" not in export.get("Content-Disposition", "")
    assert upload.status_code == 403


def test_admin_import_previews_then_applies_on_confirm(client, django_user_model, source, empty_target):
    # given
    from django.core.files.uploadedfile import SimpleUploadedFile

    user = staff(django_user_model, "view_integration", "import")
    client.force_login(user)
    url = "/integrations/integration/configuration/import/"
    content = cfg.configuration_export(integration=source, fmt=cfg.JSON)
    before = state_of(empty_target)

    # when: preview
    preview = client.post(url, {"step": "preview", "target": empty_target.pk,
                                "file": SimpleUploadedFile("us.json", content, content_type="application/json")})

    # then: the difference is shown, nothing changed yet
    assert preview.status_code == 200
    assert b"configuration-diff" in preview.content and b"osa-main \xe2\x86\x92 uk-fbt" in preview.content
    assert state_of(empty_target) == before

    # when: confirm
    done = client.post(url, {"step": "confirm", "upload": preview.context["upload"], "target": empty_target.pk, "new_name": ""})

    # then
    assert done.status_code == 302 and done["Location"] == f"/integrations/integration/{empty_target.pk}/change/"
    empty_target.refresh_from_db()
    assert cfg.configuration_snapshot(integration=empty_target) == cfg.configuration_snapshot(integration=source)
    assert SettingsChange.objects.get(integration=empty_target).user == user


def test_admin_import_of_a_bad_file_lists_the_errors_and_changes_nothing(client, django_user_model, source, empty_target):
    # given
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(staff(django_user_model, "view_integration", "import"))
    content = _json_bundle(source, settings__mode="turbo", connector="fakecfg")
    before = state_of(empty_target)

    # when
    response = client.post("/integrations/integration/configuration/import/", {
        "step": "preview", "target": empty_target.pk, "file": SimpleUploadedFile("bad.json", content)})

    # then
    assert response.status_code == 200
    assert response.context["errors"] == [("settings.mode", "'turbo' is not one of: fast, slow")]
    assert b"nothing was changed" in response.content
    assert state_of(empty_target) == before


def test_admin_import_action_opens_the_form_for_the_selected_integration(client, django_user_model, empty_target):
    # given
    client.force_login(staff(django_user_model, "view_integration", "import"))

    # when
    response = client.post("/integrations/integration/", {"action": "import_configuration", "_selected_action": [empty_target.pk]})
    form = client.get(response["Location"])

    # then
    assert response["Location"] == f"/integrations/integration/configuration/import/?target={empty_target.pk}"
    assert form.context["form"].initial["target"] == empty_target


def test_import_export_permission_mixin_checks_the_declared_app_permissions(rf, django_user_model, db):
    # given: an ImportExportMixin admin as the bulk-data admins declare it, with the mixin first
    from django.contrib import admin as django_admin
    from django.contrib.auth.models import Permission
    from import_export.admin import ImportExportMixin

    from catalog.models import Product
    from integrations.admin_config import ImportExportPermissionMixin

    class WithMixin(ImportExportPermissionMixin, ImportExportMixin, django_admin.ModelAdmin):
        pass

    class Plain(ImportExportMixin, django_admin.ModelAdmin):
        pass

    importer = django_user_model.objects.create_user("importer", is_staff=True)
    importer.user_permissions.set(Permission.objects.filter(content_type__app_label="catalog", codename="import"))
    viewer = django_user_model.objects.create_user("viewer", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(content_type__app_label="catalog", codename="view_product"))

    def request_for(user):
        request = rf.get("/")
        request.user = django_user_model.objects.get(pk=user.pk)
        return request

    # when
    site = django_admin.AdminSite()
    with_mixin, plain = WithMixin(Product, site), Plain(Product, site)

    # then
    assert with_mixin.has_import_permission(request_for(importer)) is True
    assert with_mixin.has_export_permission(request_for(importer)) is False
    assert with_mixin.has_import_permission(request_for(viewer)) is False
    assert plain.has_import_permission(request_for(importer)) is False  # the library wants catalog.import_product


def _uk_with_own_carrier(empty_target):
    Mapping.objects.create(integration=empty_target, kind="carrier", source="Royal Mail", target="RM-1")
    Mapping.objects.create(integration=empty_target, kind="carrier", source="USPS", target="old")


def test_merge_keeps_target_only_mappings(source, empty_target, admin_user):
    _uk_with_own_carrier(empty_target)
    content = cfg.configuration_export(integration=source, fmt=cfg.JSON)
    cfg.configuration_import(content=content, target=empty_target, user=admin_user, mappings_mode=cfg.MAPPINGS_MERGE)
    mappings = dict(Mapping.objects.filter(integration=empty_target, kind="carrier").values_list("source", "target"))
    assert mappings == {"Royal Mail": "RM-1", "USPS": "=cmd|' /C calc'!A0"}  # kept; the file's USPS changed
    assert Mapping.objects.filter(integration=empty_target).count() == 4


def test_replace_removes_target_only_mappings(source, empty_target, admin_user):
    _uk_with_own_carrier(empty_target)
    content = cfg.configuration_export(integration=source, fmt=cfg.JSON)
    cfg.configuration_import(content=content, target=empty_target, user=admin_user, mappings_mode=cfg.MAPPINGS_REPLACE)
    assert not Mapping.objects.filter(integration=empty_target, source="Royal Mail").exists()


def test_unknown_mappings_mode_is_refused_and_changes_nothing(source, empty_target, admin_user):
    _uk_with_own_carrier(empty_target)
    before = state_of(empty_target)
    with pytest.raises(cfg.ConfigurationInvalid, match="mappings_mode"):
        cfg.configuration_import(content=cfg.configuration_export(integration=source), target=empty_target, mappings_mode="both")
    assert state_of(empty_target) == before


def test_admin_preview_calls_out_removals_and_offers_merge(client, django_user_model, source, empty_target):
    from django.core.files.uploadedfile import SimpleUploadedFile

    _uk_with_own_carrier(empty_target)
    client.force_login(staff(django_user_model, "view_integration", "import"))
    url = "/integrations/integration/configuration/import/"
    content = cfg.configuration_export(integration=source, fmt=cfg.JSON)
    preview = client.post(url, {"step": "preview", "target": empty_target.pk,
                                "file": SimpleUploadedFile("us.json", content, content_type="application/json")})
    body = preview.content.decode()
    assert 'id="mapping-removals"' in body and "Royal Mail" in body and 'value="merge" checked' in body
    client.post(url, {"step": "confirm", "upload": preview.context["upload"], "target": empty_target.pk, "new_name": "",
                      "mappings_mode": "merge"})
    assert Mapping.objects.get(integration=empty_target, source="Royal Mail").target == "RM-1"
