"""Browser tests: Debian's Chromium driven by Playwright against pytest-django's live server.

Each test gets a fresh browser profile, fails on any console error, uncaught page error
or Content-Security-Policy violation, and can save screenshots under
test-output/screenshots/.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.broker_folders import use_broker_folder

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
# (setting up data, reading results) are ordinary synchronous calls all the same.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("PODIUM_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Every document the browser opens reports each CSP violation to the test, with what was
# blocked and where: Chromium's console line alone does not name the element.
_REPORT_CSP_VIOLATIONS = """document.addEventListener("securitypolicyviolation", (e) =>
    window.__podiumCspViolation(`${e.effectiveDirective} blocked ${e.blockedURI || "inline"} `
        + `at ${e.sourceFile || e.documentURI}:${e.lineNumber} ${e.sample}`));"""
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"


@pytest.fixture(scope="session")
def _web_broker_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("web-broker")


@pytest.fixture(autouse=True)
def _broker_in_tmp(_web_broker_folder):
    """Task messages sent by these tests' pages go to a folder of their own, never to a
    worker of another suite (or of `make run`)."""
    return use_broker_folder(_web_broker_folder)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The in-process live server and the personas hash with a cheap hasher: two cores are
    # shared by the whole suite. Subprocess servers (tests/web/pipeline.py) keep the real one.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def playwright_driver():
    if not Path(CHROMIUM).exists():
        from tests.conftest import need_service

        need_service(f"Chromium at {CHROMIUM} (make browser installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


class Browser:
    """One fresh Chromium profile; pages opened from it are watched for console errors."""

    def __init__(self, pw, base_url: str):
        self.profile = tempfile.mkdtemp(prefix="podium-chromium-")
        self.context = pw.chromium.launch_persistent_context(
            self.profile,
            executable_path=CHROMIUM,
            headless=True,
            args=ARGS,
            base_url=base_url,
            viewport={"width": 1280, "height": 860},
            accept_downloads=True,
        )
        self.context.set_default_timeout(15_000)
        self.errors: list[str] = []
        self.context.expose_function(
            "__podiumCspViolation", lambda text: self.errors.append(f"CSP violation: {text}")
        )
        self.context.add_init_script(_REPORT_CSP_VIOLATIONS)

    def new_page(self):
        page = self.context.new_page()
        page.on("console", lambda msg: self._console(msg, page))
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        return page

    def _console(self, msg, page):
        url = msg.location.get("url") or page.url
        # Chromium asks for /favicon.ico on pages without an icon link; the site redirects it
        # to its icon (test_rough_edges), and a miss there would not be the page's error.
        if msg.type == "error" and urlsplit(url).path != "/favicon.ico":
            self.errors.append(f"console: {msg.text} ({url})")

    def close(self):
        """Close the profile, then fail if any page logged an error or broke the CSP."""
        self.context.close()
        shutil.rmtree(self.profile, ignore_errors=True)
        assert self.errors == [], "the pages logged errors:\n" + "\n".join(self.errors)


@pytest.fixture
def browser(playwright_driver, live_server):
    b = Browser(playwright_driver, live_server.url)
    yield b
    b.close()


@pytest.fixture
def page(browser):
    return browser.new_page()


_WIDE = """() => [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
    .filter(e => { for (let p = e.parentElement; p; p = p.parentElement) {
        if (getComputedStyle(p).overflowX !== 'visible') return false; } return true; })
    .map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '')).slice(0, 5)"""


def shot(page, name: str) -> Path:
    """Save a full-page screenshot; every page checked this way must also fit the window's width."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"{name}: the page is {width}px wide in a {inner}px window: {page.evaluate(_WIDE)}"
    return path


def wait_until(page, expression: str, **kwargs):
    """Wait until a JavaScript expression is true. Given a bare expression, Playwright would
    eval() it inside the page, which the site's CSP (no 'unsafe-eval') refuses; a function
    Playwright compiles through the debugging protocol, outside the page's policy."""
    return page.wait_for_function(f"() => ({expression})", **kwargs)


def login(page, username: str, password: str = "correct-horse-battery"):
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")


def sign_up_and_join(page, base_url: str, username: str, competition: str) -> None:
    """A new participant as a person becomes one: the sign-up form (the server hashes the
    password as in production), then the competition's rules accepted and joined."""
    page.goto("/accounts/signup/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.com")
    page.get_by_label("Password", exact=True).fill("a-long-unusual-passphrase")
    page.get_by_label("Password confirmation").fill("a-long-unusual-passphrase")
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(base_url + "/")
    page.goto(f"/c/{competition}/rules/")
    page.get_by_label("I accept the rules of this competition").check()
    page.get_by_role("button", name="Accept the rules and join").click()
    page.wait_for_url("**/data/")
