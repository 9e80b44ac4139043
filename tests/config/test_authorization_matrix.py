"""Authorization matrix (issue #11, CI): every admin URL and every custom view, for the five kinds of user
— superuser, Integration admins, Ops staff, staff without a group, anonymous.

Rules checked on every URL the project serves (enumerated from the URL resolver, so a new view is covered
the day it is added):
- anonymous users get the login page (302) everywhere except the few public endpoints listed below;
- a logged-in user is never shown a model page (200) the permission system does not grant them (view or
  change for lists, change pages and history; add for add pages; delete for delete pages; the app's import /
  export permission for import/export pages);
- staff without a group see no model page at all; Ops staff add nothing; nobody but a superuser adds a task
  schedule; the superuser sees every list;
- the custom views follow the table CUSTOM below, and a custom view the table does not name yet (a new
  connector's views, written in parallel) follows the generic rules: a connector's OAuth views (connect,
  callback, select shop, authorize, disconnect) admit only superusers and Integration admins; any other custom
  view admits the superuser and refuses staff without a group; a connector's webhook is public but answers
  no anonymous GET with 200. Nothing here needs editing when a view is added."""
from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import URLPattern, URLResolver, clear_url_caches, get_resolver, reverse

from integrations import bootstrap, services
from tests.integrations.connectors.tiktok.conftest import APP_KEY, APP_SECRET, SERVICE_ID

pytestmark = pytest.mark.django_db

ROLES = ("superuser", "admins", "ops", "nogroup", "anonymous")
# Public by design: the webhook (signature-verified, POST only), the sandbox emulators (their own emulated
# credentials; refused in production by `check --deploy`), the login page and Django's admin catch-all.
PUBLIC = {"admin:login", "admin:logout"}
PUBLIC_PREFIXES = ("integrations:sandbox:",)
# Every connector's emulator endpoints (integrations:<connector>:emu-...): the sandbox's own emulated credentials.
EMULATOR_URL = re.compile(r"^integrations:[a-z0-9_]+:emu-")
# Every connector's webhook endpoint (integrations:<connector>:webhook...): public, signature-verified.
WEBHOOK_URL = re.compile(r"^integrations:[a-z0-9_]+:[a-z0-9_-]*webhook[a-z0-9_-]*$")
# A connector's authorization views: the credentials permission of Integration admins (issue #11, critical 3).
OAUTH_URL = re.compile(r"^integrations:[a-z0-9_]+:(?:connect|callback|select_shop|select-shop|authorize|oauth[a-z0-9_-]*|"
                       r"disconnect|reauthorize|[a-z0-9_-]*_(?:connect|callback))$")
NOT_VIEWS = ("admin:autocomplete", "admin:view_on_site", "admin:app_list", "admin:")


def is_public(name: str) -> bool:
    return (name in PUBLIC or name.startswith(PUBLIC_PREFIXES) or bool(WEBHOOK_URL.match(name))
            or bool(EMULATOR_URL.match(name)))


MODEL_URL = re.compile(r"^admin:(?P<app>[a-z_]+?)_(?P<model>[a-z]+)_(?P<view>changelist|add|change|delete|history|import|"
                       r"process_import|export)$")


def _walk(resolver, ns=""):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry, f"{ns}:{entry.namespace}".strip(":") if entry.namespace else ns)
        elif isinstance(entry, URLPattern) and entry.name:
            yield f"{ns}:{entry.name}".strip(":"), entry


def _url(name: str, pattern: URLPattern, ids: dict) -> str | None:
    keys = list(pattern.pattern.regex.groupindex)
    kwargs = {k: ids.get(k, "999999") for k in keys}
    if "action" in kwargs:
        kwargs["action"] = "run_now"
    if "content_type_id" in kwargs or "path" in kwargs or "url" in kwargs or "app_label" in kwargs:
        return None  # view_on_site / catch-alls / app index: covered by the model pages
    try:
        return reverse(name, kwargs=kwargs)
    except Exception:  # noqa: BLE001 - a pattern whose converters refuse the stand-in value
        return None


ALL_URLS = sorted(_walk(get_resolver()), key=lambda item: item[0])


@pytest.fixture
def world(django_user_model):
    bootstrap.groups_ensure()
    integration = services.integration_create(name="TikTok M", connector="tiktok",
                                              credentials={"app_key": APP_KEY, "app_secret": APP_SECRET, "service_id": SERVICE_ID})
    state = integration.flow_states.first()
    users = {"superuser": django_user_model.objects.create_superuser("su", "su@example.com", "pw")}
    for role, group in (("admins", bootstrap.ADMIN_GROUP), ("ops", bootstrap.OPS_GROUP), ("nogroup", None)):
        user = django_user_model.objects.create_user(role, password="pw", is_staff=True)
        if group:
            user.groups.add(Group.objects.get(name=group))
        users[role] = user
    ids = {"integration_pk": str(integration.pk), "pk": str(integration.pk), "state_pk": str(state.pk),
           "object_id": "999999", "id": "999999"}
    return users, ids


def _get(client, users, role, url):
    client.logout()
    if role != "anonymous":
        client.force_login(users[role])
    return client.get(url)


def _granted(user, app: str, model: str, view: str) -> bool:
    if view in ("changelist", "change", "history"):
        return user.has_perm(f"{app}.view_{model}") or user.has_perm(f"{app}.change_{model}")
    if view == "add":
        return user.has_perm(f"{app}.add_{model}")
    if view == "delete":
        return user.has_perm(f"{app}.delete_{model}")
    if view in ("import", "process_import"):
        return user.has_perm(f"{app}.import") or user.has_perm("integrations.import")
    if view == "export":
        return user.has_perm(f"{app}.export") or user.has_perm("integrations.export")
    return False


def test_anonymous_users_reach_only_the_public_endpoints(client, world):
    users, ids = world
    leaks = []
    for name, pattern in ALL_URLS:
        if is_public(name):
            continue
        url = _url(name, pattern, ids)
        if url is None:
            continue
        response = _get(client, users, "anonymous", url)
        if not (response.status_code == 302 and "login" in response["Location"]):
            leaks.append((name, response.status_code))
    assert leaks == []


def test_every_webhook_answers_no_anonymous_get_with_content(client, world):
    users, ids = world
    webhooks = [(name, pattern) for name, pattern in ALL_URLS if WEBHOOK_URL.match(name)]
    assert "integrations:tiktok:webhook" in {name for name, _ in webhooks}
    for name, pattern in webhooks:
        url = _url(name, pattern, ids)
        assert url is not None, name
        assert _get(client, users, "anonymous", url).status_code in (400, 401, 403, 404, 405), name


def test_sandbox_endpoints_refuse_anonymous_callers(client, world):
    users, ids = world
    for name, pattern in ALL_URLS:
        if name.startswith(PUBLIC_PREFIXES):
            url = _url(name, pattern, ids)
            if url is not None:
                assert _get(client, users, "anonymous", url).status_code in (401, 403, 404, 405), name


@pytest.mark.parametrize("role", ["superuser", "admins", "ops", "nogroup"])
def test_no_admin_page_is_shown_beyond_the_users_permissions(client, world, role):
    users, ids = world
    user = users[role]
    too_much, shown = [], set()
    for name, pattern in ALL_URLS:
        match = MODEL_URL.match(name)
        url = _url(name, pattern, ids)
        if match is None or url is None:
            continue
        status = _get(client, users, role, url).status_code
        if status == 200:
            shown.add(name)
            if not _granted(user, match["app"], match["model"], match["view"]):
                too_much.append(name)
    assert too_much == []
    changelists = {f"admin:{m._meta.app_label}_{m._meta.model_name}_changelist" for m in admin.site._registry}
    if role == "superuser":
        assert changelists <= shown
    if role == "nogroup":
        assert shown == set()
    if role == "ops":
        assert {n for n in shown if n.endswith("_add")} == set()
        assert "admin:tiktok_webhookevent_changelist" in shown and "admin:integrations_integration_changelist" in shown
    if role in ("ops", "admins"):
        assert "admin:django_q_schedule_add" not in shown and "admin:auth_user_changelist" not in shown


# Custom views: name → the roles let in (anything but 403 or the login page); everyone else gets 403 or the
# login page. A stand-in object id is used where the view needs one.
CUSTOM = {
    "integrations:tiktok:connect": {"superuser", "admins"},
    "integrations:tiktok:callback": {"superuser", "admins"},
    "integrations:tiktok:select_shop": {"superuser", "admins"},
    "integrations:katana:connect": {"superuser", "admins"},
    "integrations:katana:callback": {"superuser", "admins"},
    "integrations:acumatica:connect": {"superuser", "admins"},
    "integrations:acumatica:callback": {"superuser", "admins"},
    "admin:integrations_integration_history_settings": {"superuser", "admins", "ops"},
    "admin:integrations_integration_configuration_import": {"superuser", "admins"},
    "admin:index": {"superuser", "admins", "ops", "nogroup"},
    "admin:password_change": {"superuser", "admins", "ops", "nogroup"},
    "admin:password_change_done": {"superuser", "admins", "ops", "nogroup"},
    "admin:jsi18n": {"superuser", "admins", "ops", "nogroup"},
    "admin:orders_order_edit": {"superuser", "admins", "ops"},
    "admin:integrations_opsexception_by_cause": {"superuser", "admins", "ops"},
}
# POST-only actions (GET answers 405 or redirects): checked for "not allowed" only.
CUSTOM_POST = {
    "admin:integrations_integration_test_connection": {"superuser", "admins", "ops"},
    "admin:integrations_integration_flow_action": {"superuser", "admins", "ops"},
    "admin:orders_order_action": {"superuser", "admins", "ops"},
    "admin:integrations_opsexception_act": {"superuser", "admins", "ops"},
    "admin:integrations_opsexception_redrive_group": {"superuser", "admins", "ops"},
    "admin:orders_routingrule_preview": {"superuser", "admins"},  # routing rules: Integration admins change them
}


# The superuser (admitted) and staff without a group (refused) are checked on every custom view, named or not.
GENERIC = {"superuser": True, "nogroup": False, "anonymous": False}


def custom_views() -> list[tuple[str, URLPattern]]:
    return [(name, pattern) for name, pattern in ALL_URLS
            if not MODEL_URL.match(name) and not is_public(name) and name not in NOT_VIEWS]


def expectation(name: str, role: str) -> bool | None:
    """True: the role must be let in; False: refused; None: not decided for this (unnamed) view."""
    table = CUSTOM.get(name) or CUSTOM_POST.get(name)
    if table is None and OAUTH_URL.match(name):
        table = {"superuser", "admins"}
    if table is not None:
        if name in CUSTOM_POST:  # POST-only actions are checked for "not allowed" only
            return False if role not in table else None
        return role in table
    return GENERIC.get(role)


def test_every_custom_view_is_checked():
    """Each custom view the resolver knows gets a URL to call (so the matrix below reaches it)."""
    views = custom_views()
    assert {"integrations:tiktok:connect", "admin:integrations_integration_test_connection"} <= {n for n, _ in views}
    assert [name for name, pattern in views if _url(name, pattern, {}) is None] == []


def test_the_generic_rules_cover_a_view_added_later():
    assert expectation("integrations:katana:connect", "ops") is False
    assert expectation("integrations:acumatica:callback", "admins") is True
    assert expectation("admin:katana_something_report", "nogroup") is False
    assert expectation("admin:katana_something_report", "superuser") is True
    assert WEBHOOK_URL.match("integrations:katana:webhook") and is_public("integrations:katana:webhook")


def matrix_violations(client, users, ids, role, views) -> list[tuple[str, int]]:
    wrong = []
    for name, pattern in views:
        expected = expectation(name, role)
        if expected is None:
            continue
        url = _url(name, pattern, ids)
        client.logout()
        if role != "anonymous":
            client.force_login(users[role])
        response = client.post(url, {}) if name in CUSTOM_POST else client.get(url)
        if response.status_code == 405 and name not in CUSTOM_POST:  # an unnamed POST-only view
            response = client.post(url, {})
        to_login = response.status_code == 302 and "login" in response.get("Location", "")
        allowed = response.status_code != 403 and not to_login  # a 400 is a refused request, not a refused user
        if allowed != expected:
            wrong.append((name, response.status_code))
    return wrong


@pytest.mark.parametrize("role", ROLES)
def test_custom_views_follow_the_matrix(client, world, role, responses):  # responses: no network from test-connection
    users, ids = world
    assert matrix_violations(client, users, ids, role, custom_views()) == []


def test_a_new_connectors_view_that_checks_only_is_staff_is_caught(client, world, settings):
    """What happens the day a connector adds an OAuth view guarded by is_staff alone: the matrix fails."""
    users, ids = world
    settings.ROOT_URLCONF = "tests.config.urls_new_connector"
    clear_url_caches()
    try:
        views = [(n, p) for n, p in _walk(get_resolver()) if n.startswith("integrations:newconn:")]
        assert {n for n, _ in views} == {"integrations:newconn:connect", "integrations:newconn:report"}
        assert matrix_violations(client, users, ids, "ops", views) == [("integrations:newconn:connect", 200)]
        assert matrix_violations(client, users, ids, "nogroup", views) == [("integrations:newconn:connect", 200),
                                                                            ("integrations:newconn:report", 200)]
    finally:
        clear_url_caches()
