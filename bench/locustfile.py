"""Mixed traffic for bench/loadtest.py: people browsing, participants using the API and the site.

Run by bench/loadtest.py (`locust -f bench/locustfile.py --headless …`), which starts the
platform, seeds it and passes what the users need through the environment:
PODIUM_LOAD_SLUG (the competition), PODIUM_LOAD_ACCOUNTS (a file of `username password
token` lines, one participant each), PODIUM_LOAD_CSV (a valid predictions file) and
PODIUM_LOAD_CONFIG (a small valid model config). Request names group URLs by endpoint
("page: …" for HTML pages, "api: …" for the REST API) so percentiles are per endpoint.
"""

from __future__ import annotations

import itertools
import os
import random
import re
import threading
from pathlib import Path

from locust import HttpUser, between, task

SLUG = os.environ.get("PODIUM_LOAD_SLUG", "iris-load")
BOARD_PAGES = int(os.environ.get("PODIUM_LOAD_BOARD_PAGES", "5"))
CSV = Path(os.environ["PODIUM_LOAD_CSV"]).read_bytes() if "PODIUM_LOAD_CSV" in os.environ else b""
CONFIG = Path(os.environ["PODIUM_LOAD_CONFIG"]).read_text() if "PODIUM_LOAD_CONFIG" in os.environ else ""
CONFIG_SHARE = float(os.environ.get("PODIUM_LOAD_CONFIG_SHARE", "0.02"))


def _accounts() -> list[tuple[str, str, str]]:
    path = os.environ.get("PODIUM_LOAD_ACCOUNTS")
    if not path:
        return []
    return [tuple(line.split()) for line in Path(path).read_text().splitlines() if line.strip()]


_ACCOUNTS = itertools.cycle(_accounts() or [("", "", "")])
_LOCK = threading.Lock()


def _next_account() -> tuple[str, str, str]:
    with _LOCK:
        return next(_ACCOUNTS)


class Visitor(HttpUser):
    """Someone browsing without an account: the list, a competition's tabs, its boards."""

    weight = 4
    wait_time = between(0.5, 1.5)

    @task(3)
    def home(self):
        self.client.get("/", name="page: home")

    @task(3)
    def overview(self):
        self.client.get(f"/c/{SLUG}/", name="page: competition")

    @task(4)
    def board(self):
        page = random.randint(1, BOARD_PAGES)
        self.client.get(f"/c/{SLUG}/leaderboard/?page={page}", name="page: leaderboard")

    @task(1)
    def rules(self):
        self.client.get(f"/c/{SLUG}/rules/", name="page: rules")

    @task(1)
    def data(self):
        self.client.get(f"/c/{SLUG}/data/", name="page: data")

    @task(2)
    def api_list(self):
        self.client.get("/api/competitions/", name="api: competitions")

    @task(3)
    def api_board(self):
        page = random.randint(1, BOARD_PAGES)
        self.client.get(f"/api/competitions/{SLUG}/leaderboard/?page={page}", name="api: leaderboard")


class Participant(HttpUser):
    """A participant scripting against the API with a token: downloads, entries, their status."""

    weight = 3
    wait_time = between(0.5, 1.5)

    def on_start(self):
        _, _, token = _next_account()
        self.client.headers["Authorization"] = f"Token {token}"
        self.entries: list[int] = []

    @task(4)
    def submit_csv(self):
        response = self.client.post(
            f"/api/competitions/{SLUG}/submissions/",
            files={"file": ("predictions.csv", CSV, "text/csv")},
            name="api: submit csv",
        )
        if response.status_code == 201:
            self.entries.append(response.json()["id"])

    @task(1)
    def submit_config(self):
        if random.random() >= CONFIG_SHARE * 10:  # the task's weight share, thinned to CONFIG_SHARE
            return
        response = self.client.post(
            f"/api/competitions/{SLUG}/submissions/",
            data={"config": CONFIG, "description": "load test"},
            name="api: submit config",
        )
        if response.status_code == 201:
            self.entries.append(response.json()["id"])

    @task(3)
    def status(self):
        if self.entries:
            self.client.get(f"/api/submissions/{random.choice(self.entries)}/", name="api: submission")

    @task(2)
    def mine(self):
        self.client.get(f"/api/competitions/{SLUG}/submissions/", name="api: my submissions")

    @task(1)
    def download(self):
        self.client.get(f"/api/competitions/{SLUG}/data/train.csv", name="api: download train.csv")

    @task(1)
    def limits(self):
        self.client.get(f"/api/competitions/{SLUG}/submissions/limits/", name="api: limits")


class SignedIn(HttpUser):
    """A participant on the site: signed in, watching their submissions and the board."""

    weight = 2
    wait_time = between(0.5, 1.5)

    def on_start(self):
        username, password, _ = _next_account()
        form = self.client.get("/accounts/login/", name="page: login")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
        self.client.post(
            "/accounts/login/",
            data={
                "username": username,
                "password": password,
                "csrfmiddlewaretoken": token.group(1) if token else "",
            },
            headers={"Referer": f"{self.host}/accounts/login/"},
            # Not a page read: the password hash is slow on purpose.
            name="auth: sign in",
        )

    @task(3)
    def my_submissions(self):
        self.client.get(f"/c/{SLUG}/submissions/", name="page: my submissions")

    @task(3)
    def rows(self):
        self.client.get(f"/c/{SLUG}/submissions/rows/", name="page: my submissions rows")

    @task(2)
    def board(self):
        page = random.randint(1, BOARD_PAGES)
        self.client.get(f"/c/{SLUG}/leaderboard/?page={page}", name="page: leaderboard (signed in)")

    @task(1)
    def submit_page(self):
        self.client.get(f"/c/{SLUG}/submit/", name="page: submit")

    @task(1)
    def account(self):
        self.client.get("/accounts/", name="page: account")
