"""Every URL pattern of the project (pages, API, worker API, admin), fed arbitrary path and
query parameters and form or JSON bodies by hypothesis, as an anonymous visitor, a
participant, staff and a training worker: never a 5xx.

Each view is first asked once to learn which query and form names it reads and which
methods it answers; those names are then drawn most, each also tried once with every value
that broke a view before (`BROKE_VIEWS`). Known values (the seeded slugs, ids and file
names) are drawn beside arbitrary text (unicode, control characters, empty) and integers
(huge, negative), so requests reach the views' own checks past their 404s. Each example runs
in a savepoint that is rolled back, so a POST that joins, cancels or reveals does not change
what the next example sees; the draws are seeded per pattern, so the run is the same on
every machine. A failing pattern is reported with its falsifying example; every pattern is
tried before the test fails.
"""

from __future__ import annotations

import json
import re
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
import yaml
from django.db import transaction
from django.http import QueryDict
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils.datastructures import MultiValueDict
from hypothesis import HealthCheck, Phase, example, given, note, seed, settings
from hypothesis import strategies as st

from tests.factories.accounts import make_api_token, make_user
from tests.factories.competitions import make_competition, make_participations
from tests.factories.leaderboards import make_entry
from tests.factories.submissions import TINY_CONFIG, make_submission
from tests.factories.teams import make_team

pytestmark = pytest.mark.django_db

# Per pattern, with the seeded values in its path (the admin's ~70 patterns are Django's own
# views over the project's models: fewer), then with odd ones. The whole fuzz stays under a
# minute on a 2-core box.
EXAMPLES = 20
ODD_PATH_EXAMPLES = 3
ADMIN_EXAMPLES = 6
ADMIN_ODD_PATH_EXAMPLES = 2
CSRF_SECRET = "fuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzz"  # 32 characters: Django takes it unmasked
PERSONAS = ("participant", "staff", "anonymous", "worker")
# What the admin's change lists read besides their filters (Django's ChangeList constants).
ADMIN_PARAMS = ("q", "o", "p", "all", "e", "_to_field", "_popup", "_changelist_filters")
PLATFORM = Path(__file__).resolve().parents[2] / "platform" / "podium"
_READS = re.compile(
    r"""(?:GET|POST|query_params|data)(?:\.get\(|\[)\s*["'](\w+)["']"""
    r"""|query_(?:int|choice)\([^,]+,\s*["'](\w+)["']"""
)


def _parameter_names() -> list[str]:
    """Query and form names the views read, found in their source; each view's own are also
    recorded while it answers (`_reads`), the API's filters and pagination among them."""
    names = {"format", "page", "page_size", *ADMIN_PARAMS}
    for source in PLATFORM.rglob("*.py"):
        for match in _READS.finditer(source.read_text()):
            names.add(match.group(1) or match.group(2))
    return sorted(names)


@dataclass(frozen=True)
class Route:
    template: str  # "/c/{slug}/compare/"
    names: tuple[str, ...]


def _routes() -> list[Route]:
    def walk(patterns, prefix):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                yield prefix + str(p.pattern)

    out = []
    for raw in walk(get_resolver().url_patterns, ""):
        # <conv:name> and (?P<name>…) become {name}; what is left of a regex is anchors.
        template = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", raw)
        template = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", template).replace("^", "").replace("$", "")
        out.append(Route("/" + template, tuple(re.findall(r"{(\w+)}", template))))
    return out


ROUTES = _routes()


@pytest.fixture
def world(db, settings):
    """A competition open for entries (entries of two participants, a team, a model config
    waiting for a worker) and a finished one with its private board revealed."""
    from django.contrib.contenttypes.models import ContentType
    from django.core.cache import cache

    from podium.leaderboards.services import board_reveal
    from podium.submissions.models import Kind, Status
    from podium.submissions.tokens import worker_token_make

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()  # throttles and lockouts of an earlier test
    alice, bob = make_user("alice"), make_user("bob")
    staff = make_user("admin", is_staff=True, is_superuser=True)
    open_cup = make_competition("open-cup")
    past_cup = make_competition("past-cup", starts=-10, ends=-1)
    make_participations(open_cup, alice, bob)
    make_participations(past_cup, alice, bob)
    entries = [make_entry(open_cup, alice, 0.9), make_entry(open_cup, bob, 0.8)]
    entries += [make_entry(past_cup, alice, 0.7, 0.6), make_entry(past_cup, bob, 0.75, 0.8)]
    board_reveal(competition=past_cup)
    team = make_team(open_cup, bob, name="Owls")
    config = make_submission(
        open_cup, alice, kind=Kind.CONFIG, config=yaml.safe_load(TINY_CONFIG), status=Status.QUEUED, attempt=1
    )
    make_api_token(alice)
    from podium.accounts.models import ApiToken
    from podium.leaderboards.models import BoardEntry

    ids = [
        *(e.pk for e in entries),
        config.pk,
        team.pk,
        alice.pk,
        open_cup.pk,
        open_cup.dataset_id,
        *BoardEntry.objects.values_list("pk", flat=True),
        *ApiToken.objects.values_list("pk", flat=True),
    ]
    known = {
        "slug": ["open-cup", "past-cup", "iris"],
        "dataset_slug": ["iris"],
        "name": ["train.csv", "test.csv", "test_labels.csv", "sample_submission.csv"],
        "app_label": ["competitions", "accounts"],
        "content_type_id": [ContentType.objects.get_for_model(type(open_cup)).pk],
        "url": ["nothing/"],
    }
    clients = {persona: _client() for persona in PERSONAS}
    clients["participant"].force_login(alice)
    clients["staff"].force_login(staff)
    headers = {p: {} for p in PERSONAS}
    headers["worker"] = {
        "Authorization": "Worker " + worker_token_make(submission_id=config.pk, attempt=config.attempt)
    }
    return {
        "ids": [str(i) for i in ids],
        "known": {k: [str(v) for v in vs] for k, vs in known.items()},
        "cookies": {p: {k: m.value for k, m in c.cookies.items()} for p, c in clients.items()},
        "headers": headers,
    }


def _client() -> Client:
    client = Client(enforce_csrf_checks=True)
    client.cookies["csrftoken"] = CSRF_SECRET
    return client


ANY_TEXT = st.text(max_size=40)
NUMBERS = st.integers(min_value=-(2**70), max_value=2**70).map(str)
# What broke views before: non-ASCII digits ('²'.isdigit() is True, int('²') fails), numbers
# past a column's range, a NUL byte; and their neighbours.
BROKE_VIEWS = ("²", "9" * 25, "\x00")
ODD_VALUES = st.sampled_from((*BROKE_VIEWS, "١", "-1", "0", "", str(2**63), "x" * 300))


def _value(known: list[str]):
    """Half the time an odd value, else a seeded one, any integer or any text."""
    others = [st.sampled_from(known)] if known else []
    return st.one_of(ODD_VALUES, st.one_of(*others, NUMBERS, ANY_TEXT))


@contextmanager
def _recording_reads():
    """The keys a view looks up in its query or form (QueryDict is a MultiValueDict)."""
    read: set[str] = set()
    originals = {
        name: getattr(MultiValueDict, name) for name in ("get", "__getitem__", "getlist", "__contains__")
    }

    def recording(method):
        def record(self, key, *args, **kwargs):
            if isinstance(self, QueryDict) and isinstance(key, str):
                read.add(key)
            return method(self, key, *args, **kwargs)

        return record

    for name, method in originals.items():
        setattr(MultiValueDict, name, recording(method))
    try:
        yield read
    finally:
        for name, method in originals.items():
            setattr(MultiValueDict, name, method)


def _probe(route: Route, world) -> tuple[list[str], list[str]]:
    """What the view reads of its query and form, and the methods it answers, seen by asking it
    once as staff (GET and POST) with the seeded values in its path."""
    path = route.template
    for name in route.names:
        known = world["ids"] if name.endswith("id") else world["known"].get(name, [""])
        path = path.replace("{" + name + "}", quote(known[0], safe=""))
    client = _client()
    for key, value in world["cookies"]["staff"].items():
        client.cookies[key] = value
    with _recording_reads() as read, transaction.atomic():
        answers = {"GET": client.get(path), "POST": client.post(path, headers={"X-CSRFToken": CSRF_SECRET})}
        transaction.set_rollback(True)
    methods = [method for method, response in answers.items() if response.status_code != 405]
    # The middleware's and the renderer's names are fuzzed with the others, not with the view's.
    return sorted(read - {"csrfmiddlewaretoken", "format"}), methods or list(answers)


@dataclass(frozen=True)
class Call:
    persona: str
    method: str
    path: str
    query: dict
    form: dict | None = None
    json_body: dict | None = None


def _send(call: Call, world):
    client = _client()
    for key, value in world["cookies"][call.persona].items():
        client.cookies[key] = value
    headers = dict(world["headers"][call.persona])
    with transaction.atomic():
        if call.method == "GET":
            response = client.get(call.path, call.query, headers=headers)
        else:
            headers["X-CSRFToken"] = CSRF_SECRET
            url = f"{call.path}?{urlencode(call.query)}" if call.query else call.path
            if call.json_body is not None:
                body = json.dumps(call.json_body)
                response = client.post(url, body, content_type="application/json", headers=headers)
            else:
                response = client.post(url, call.form or {}, headers=headers)
        transaction.set_rollback(True)
    return response


def _fuzz(route: Route, world, parameter_names: list[str]) -> None:
    admin = route.template.startswith("/admin/")
    # The admin reads its forms' fields and ADMIN_PARAMS; asking costs more than it finds.
    reads, methods = _probe(route, world) if not admin else ([], ["GET", "POST"])
    names = st.one_of(st.sampled_from(parameter_names), ANY_TEXT)
    values = _value(world["ids"])
    # Each name the view reads, half the time, and up to two more names.
    params = st.builds(
        lambda own, more: {**more, **own},
        st.fixed_dictionaries({}, optional={name: values for name in reads}),
        st.dictionaries(names, values, max_size=2),
    )
    json_values = st.one_of(
        st.none(), st.booleans(), NUMBERS.map(int), ANY_TEXT, st.lists(ANY_TEXT, max_size=3)
    )

    def known_for(name: str) -> list[str]:
        return world["ids"] if name.endswith("id") else world["known"].get(name, [])

    @st.composite
    def calls(draw, odd_paths: bool):
        path = route.template
        for name in route.names:
            known = known_for(name)
            value = draw(_value(known) if odd_paths or not known else st.sampled_from(known))
            path = path.replace("{" + name + "}", quote(value, safe=""))
        call = Call(draw(st.sampled_from(PERSONAS)), draw(st.sampled_from(methods)), path, draw(params))
        if call.method == "GET":
            return call
        if path.startswith("/api/") and draw(st.booleans()):
            return replace(call, json_body=draw(st.dictionaries(names, json_values, max_size=4)))
        return replace(call, form=draw(params))

    def run(*, odd_paths: bool, examples: int) -> None:
        @seed(zlib.crc32(f"{route.template} {odd_paths}".encode()))
        @settings(
            max_examples=examples,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
        )
        @given(call=calls(odd_paths))
        def request(call):
            note(repr(call))
            response = _send(call, world)
            assert response.status_code < 500, f"{call}: {response.status_code}"

        if not odd_paths:
            # Every name the view reads, once with each value that broke a view before,
            # as a participant, whatever the random draws pick.
            path = route.template
            for name in route.names:
                path = path.replace("{" + name + "}", quote((known_for(name) or ["x"])[0], safe=""))
            for name in reads:
                for value in BROKE_VIEWS:
                    request = example(call=Call("participant", methods[0], path, {name: value}))(request)
        request()

    # Mostly the seeded values in the path, so that the query and the body reach the view;
    # then arbitrary ones.
    run(odd_paths=False, examples=ADMIN_EXAMPLES if admin else EXAMPLES)
    if route.names:
        run(odd_paths=True, examples=ADMIN_ODD_PATH_EXAMPLES if admin else ODD_PATH_EXAMPLES)


def _described(exc: BaseException) -> list[str]:
    """The error and the example hypothesis found for it (one per distinct failure)."""
    if isinstance(exc, BaseExceptionGroup):
        return [line for inner in exc.exceptions for line in _described(inner)]
    return [f"{type(exc).__name__}: {exc}", *getattr(exc, "__notes__", [])]


def test_no_view_answers_a_server_error(world):
    parameter_names = _parameter_names()
    failures = []
    for route in ROUTES:
        try:
            _fuzz(route, world, parameter_names)
        except Exception as exc:  # every pattern is tried; each failure is reported with its example
            failures.append(f"{route.template}:\n" + "\n".join(_described(exc)))
    assert not failures, f"{len(failures)} of {len(ROUTES)} patterns failed:\n\n" + "\n\n".join(failures)


def test_every_pattern_is_fuzzed():
    """The walk finds the patterns of every part of the site, the admin and the worker API included."""
    templates = {r.template for r in ROUTES}
    for expected in (
        "/c/{slug}/leaderboard/",
        "/api/competitions/{slug}/leaderboard/",
        "/api/worker/submissions/{submission_id}/claim/",
        "/admin/competitions/competition/{object_id}/change/",
        "/staff/competitions/new/{dataset_id}/",
    ):
        assert expected in templates
    assert len(ROUTES) > 100
