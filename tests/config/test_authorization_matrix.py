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
- the custom views follow the table CUSTOM below."""
from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from integrations import bootstrap, services
from tests.integrations.connectors.tiktok.conftest import APP_KEY, APP_SECRET, SERVICE_ID

pytestmark = pytest.mark.django_db

ROLES = ("superuser", "admins", "ops", "nogroup", "anonymous")
# Public by design: the webhook (signature-verified, POST only), the sandbox emulators (their own emulated
# credentials; refused in production by `check --deploy`), the login page and Django's admin catch-all.
PUBLIC = {"integrations:tiktok:webhook", "admin:login", "admin:logout"}
PUBLIC_PREFIXES = ("integrations:osa:emu-", "integrations:sandbox:")
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
        if name in PUBLIC or name.startswith(PUBLIC_PREFIXES):
            continue
        url = _url(name, pattern, ids)
        if url is None:
            continue
        response = _get(client, users, "anonymous", url)
        if not (response.status_code == 302 and "login" in response["Location"]):
            leaks.append((name, response.status_code))
    assert leaks == []


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
}


def test_every_custom_view_is_in_the_matrix():
    custom = {name for name, _ in ALL_URLS if not MODEL_URL.match(name) and name not in PUBLIC
              and not name.startswith(PUBLIC_PREFIXES)
              and name not in ("admin:autocomplete", "admin:view_on_site", "admin:app_list", "admin:")}
    assert custom - set(CUSTOM) - set(CUSTOM_POST) == set()


@pytest.mark.parametrize("role", ROLES)
def test_custom_views_follow_the_matrix(client, world, role, responses):  # responses: no network from test-connection
    users, ids = world
    wrong = []
    for name, pattern in ALL_URLS:
        if name not in CUSTOM and name not in CUSTOM_POST:
            continue
        url = _url(name, pattern, ids)
        client.logout()
        if role != "anonymous":
            client.force_login(users[role])
        response = client.post(url, {}) if name in CUSTOM_POST else client.get(url)
        to_login = response.status_code == 302 and "login" in response.get("Location", "")
        allowed = response.status_code != 403 and not to_login  # a 400 is a refused request, not a refused user
        if name in CUSTOM_POST:
            if allowed and role not in CUSTOM_POST[name]:
                wrong.append((name, response.status_code))
        elif allowed != (role in CUSTOM[name]):
            wrong.append((name, response.status_code))
    assert wrong == []
