"""Real-browser tests: Playwright for Python driving Debian's chromium (/usr/bin/chromium) against pytest-django's
live server. Skipped, with the reason, where chromium or the playwright package is missing."""
import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _missing() -> str:
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        return f"no chromium at {CHROMIUM} (install Debian's package: apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -r requirements.txt)"
    return ""


@pytest.fixture(scope="session")
def browser():
    reason = _missing()
    if reason:
        pytest.skip(f"browser tests skipped: {reason}")
    # Playwright's sync API keeps an event loop in this thread; the ORM calls the tests make are synchronous.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
                                      args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(15000)
    yield pg
    context.close()


@pytest.fixture
def shot(request):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(pg, name: str):
        path = SCREENSHOTS / f"{request.node.name}__{name}.png"
        pg.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def site(live_server, settings):
    """The live server is also the sandbox host: the TikTok/OSA clients call SITE_URL."""
    settings.SITE_URL = live_server.url
    settings.SANDBOX_ENABLED = True
    return live_server.url


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("ops", "ops@example.com", "ops-password")


@pytest.fixture
def logged_in(page, site, staff):
    page.goto(f"{site}/login/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", "ops-password")
    page.click("input[type=submit]")
    page.wait_for_selector("#ops-dashboard")
    return page
