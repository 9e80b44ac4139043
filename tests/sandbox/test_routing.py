"""The emulators' routes follow SANDBOX_ENABLED at request time, whatever the setting was when the URLconf was
imported (integrations.sandbox.routing).

The URLconf is imported once per process, by the first URL resolution. When the URL modules read the setting at
import, a test that switched the sandbox off and happened to be the first to resolve a URL in its process
(tests/integrations/connectors/osa/test_emulator.py::test_emulator_is_off_without_sandbox, the first test of an
xdist worker's first chunk) left the process without any emulator route after the setting came back: every OSA,
TikTok, Katana and Acumatica call through the emulators got the admin's login redirect (OSA's adapter then read a
JSON body of None)."""
import json
import os
import subprocess
import sys

from django.conf import settings
from django.urls import resolve

from config.env import BASE_DIR

CATCH_ALL = "admin:django.contrib.admin.sites.catch_all_view"
EMULATORS = {
    "/integrations/sandbox/tiktok/api/v2/token/get": "integrations:sandbox:tiktok",
    "/integrations/osa/sandbox/api/v1/account": "integrations:osa:emu-account",
    "/integrations/katana/sandbox/v1/products": "integrations:katana:emu-api",
    "/integrations/acumatica/sandbox/entity": "integrations:acumatica:emu-endpoints",
}
# A fresh process whose first URL resolution happens while a test has the sandbox switched off.
FIRST_RESOLUTION_WITH_THE_SANDBOX_OFF = f"""
import json
import django
django.setup()
from django.test import override_settings
from django.urls import resolve

paths = {sorted(EMULATORS)!r}
with override_settings(SANDBOX_ENABLED=False):
    off = {{p: resolve(p).view_name for p in paths}}
print(json.dumps({{"off": off, "on": {{p: resolve(p).view_name for p in paths}}}}))
"""


def test_urlconf_first_imported_with_the_sandbox_off_routes_the_emulators_once_it_is_back_on():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE}
    probe = subprocess.run([sys.executable, "-c", FIRST_RESOLUTION_WITH_THE_SANDBOX_OFF], cwd=BASE_DIR, env=env,
                           capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr
    assert json.loads(probe.stdout) == {"off": {p: CATCH_ALL for p in EMULATORS}, "on": EMULATORS}


def test_emulator_routes_are_left_out_while_the_sandbox_is_off(settings):
    """This process's URLconf is already imported with the sandbox on: switching it off takes the routes away."""
    assert {p: resolve(p).view_name for p in EMULATORS} == EMULATORS
    settings.SANDBOX_ENABLED = False
    assert {p: resolve(p).view_name for p in EMULATORS} == {p: CATCH_ALL for p in EMULATORS}
