"""The Content-Security-Policy: every page answers with it, and no page holds what it would
block (inline scripts, event-handler attributes, style attributes or elements). The browser
tests hold the pages to it in Chromium."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from tests.web.factories import competition
from tests.web.site_pages import build_site

pytestmark = pytest.mark.django_db

POLICY = {
    "default-src": {"'self'"},
    "script-src": {"'self'"},
    "style-src": {"'self'"},
    "img-src": {"'self'", "data:"},
    "font-src": {"'self'"},
    "connect-src": {"'self'"},
    "object-src": {"'none'"},
    "base-uri": {"'self'"},
    "frame-ancestors": {"'none'"},
    "form-action": {"'self'"},
}


def policy_of(response) -> dict[str, set[str]]:
    header = response.headers.get("Content-Security-Policy")
    assert header, f"{response.status_code} answer without a Content-Security-Policy"
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: set(sources) for name, *sources in directives}


class InlineCode(HTMLParser):
    """Collects what the policy would refuse to run or apply in a page."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        names = {name for name, _ in attrs}
        where = f"line {self.getpos()[0]}: <{tag}>"
        self.found += [f"{where} {name}=" for name, _ in attrs if name.startswith("on") or name == "style"]
        if tag == "style":
            self.found.append(f"{where} element")
        # A <script> with a src runs a file; type="application/json" is data (json_script).
        self._in_script = (
            tag == "script" and "src" not in names and dict(attrs).get("type") != "application/json"
        )

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.found.append(f"line {self.getpos()[0]}: inline <script>")


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    return parser.found


def test_every_page_carries_the_policy_and_nothing_it_blocks(client, alice, bob, admin_user):
    users = {"alice": alice, "bob": bob, "admin": admin_user}
    for page in build_site(alice=alice, bob=bob, admin_user=admin_user):
        client.logout()
        if page.persona:
            client.force_login(users[page.persona])
        response = client.get(page.path)
        assert response.status_code == 200, page
        assert response["Content-Type"].startswith("text/html"), page
        assert policy_of(response) == POLICY, page.path
        assert inline_code(response.content.decode()) == [], page.path


def test_error_and_refusal_pages_carry_the_policy(client, bob):
    competition()
    assert policy_of(client.get("/no-such-page/")) == POLICY  # 404
    client.force_login(bob)
    assert policy_of(client.get("/c/iris-cup/data/train.csv")) == POLICY  # 403: not joined
    # A form answered with its errors.
    response = client.post("/c/iris-cup/submit/", {"kind": "config", "config": "version: [1"})
    assert policy_of(response) == POLICY


def test_the_checker_finds_what_the_policy_blocks():
    page = """<p style="color:red" onclick="go()">x</p><style>p{}</style><script>run()</script>
    <script src="/static/a.js"></script><script type="application/json">{"a": 1}</script>"""
    assert inline_code(page) == [
        "line 1: <p> style=",
        "line 1: <p> onclick=",
        "line 1: <style> element",
        "line 1: inline <script>",
    ]
