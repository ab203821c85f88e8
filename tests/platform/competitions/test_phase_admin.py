"""The admin's phase inline: staff add and change phases on the competition's page, with the
API's window rules; bad windows are form errors naming the phase, and nothing is saved."""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.test import Client
from django.utils import timezone

from podium.competitions.models import Phase
from tests.factories.competitions import make_competition

pytestmark = pytest.mark.django_db


class _FormValues(HTMLParser):
    """The values a browser would post for the page's main form (inputs, selects, textareas)."""

    def __init__(self):
        super().__init__()
        self.values: dict[str, str] = {}
        self._select = self._textarea = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "button", "file"):
            if a.get("type") == "checkbox":
                if "checked" in a:
                    self.values[name] = a.get("value", "on")
            else:
                self.values[name] = a.get("value", "")
        elif tag == "select" and name:
            self._select = name
            if "multiple" not in a:  # a multiple select with nothing chosen posts nothing
                self.values.setdefault(name, "")
        elif tag == "option" and self._select and "selected" in a:
            self.values[self._select] = a.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.values[name] = ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        if tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.values[self._textarea] += data


@pytest.fixture
def staff_client(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


def change_form(client, competition) -> tuple[str, dict]:
    url = f"/admin/competitions/competition/{competition.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    parser = _FormValues()
    parser.feed(page.content.decode())
    values = {k: v for k, v in parser.values.items() if "__prefix__" not in k}
    return url, values


def add_phase(values: dict, **fields) -> dict:
    n = int(values["phases-TOTAL_FORMS"])
    values = {**values, "phases-TOTAL_FORMS": str(n + 1)}
    for name, value in {"number": n + 1, "split_seed": 0, **fields}.items():
        values[f"phases-{n}-{name}"] = str(value)
    return values


def split(prefix: str, when) -> dict:
    return {f"{prefix}_0": when.strftime("%Y-%m-%d"), f"{prefix}_1": when.strftime("%H:%M:%S")}


def test_staff_add_a_final_phase_in_the_admin(staff_client):
    competition = make_competition()
    url, values = change_form(staff_client, competition)
    assert values["phases-0-slug"] == "main"
    dev_end = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
    values.update({"phases-0-slug": "development", **split("phases-0-ends_at", dev_end)})
    values = add_phase(values, slug="final", title="Final", daily_limit=2)
    answer = staff_client.post(url, values)
    assert answer.status_code == 302, answer.content.decode()[-2000:]
    phases = list(Phase.objects.filter(competition=competition).values_list("slug", "ends_at", "daily_limit"))
    assert phases == [("development", dev_end, None), ("final", None, 2)]


def test_overlapping_windows_are_a_form_error_and_nothing_is_saved(staff_client):
    competition = make_competition()
    url, values = change_form(staff_client, competition)
    now = timezone.now().replace(microsecond=0)
    values.update(split("phases-0-ends_at", now + timedelta(days=3)))
    values = add_phase(values, slug="final", title="Final", **split("starts_at", now + timedelta(days=1)))
    answer = staff_client.post(url, values)
    assert answer.status_code == 200
    page = answer.content.decode()
    assert "phase 2 (&#x27;final&#x27;) starts at" in page and "phases must not overlap" in page
    assert list(Phase.objects.filter(competition=competition).values_list("slug", "ends_at")) == [
        ("main", None)
    ]
