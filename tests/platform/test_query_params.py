"""Integer query parameters: ASCII digits within bounds, or a 400 naming the parameter, on the
API and on the pages. Each request below answered 500 before `podium.params`."""

from __future__ import annotations

import pytest
from django.http import QueryDict

from podium.params import MAX_QUERY_INT, InvalidParameter, query_choice, query_int
from tests.factories.competitions import make_dataset, make_participations
from tests.factories.leaderboards import make_entry
from tests.web.factories import competition

HUGE = "99999999999999999999999"


def q(text: str) -> QueryDict:
    return QueryDict(text)


def test_query_int_reads_ascii_digits_within_bounds():
    assert query_int(q("page=7"), "page") == 7
    assert query_int(q(f"page={MAX_QUERY_INT}"), "page") == MAX_QUERY_INT
    assert query_int(q("page=0"), "page", minimum=0) == 0
    assert query_int(q(""), "page", default=3) == 3
    assert query_int(q("page="), "page", default=3) == 3
    assert query_int(q("page_size=200"), "page_size", maximum=200) == 200


@pytest.mark.parametrize(
    "raw",
    ["²", "٣", "１", "0", "-1", "+1", " 1", "1.0", "1e3", "x", HUGE, str(MAX_QUERY_INT + 1), "9" * 10_000],
)
def test_query_int_refuses_anything_else_naming_the_parameter(raw):
    with pytest.raises(InvalidParameter) as info:
        query_int({"page": raw}, "page")
    error = info.value
    assert (error.status_code, error.code, error.parameter) == (400, "invalid_parameter", "page")
    assert error.detail.startswith(
        "The query parameter 'page' must be a whole number from 1 to 2,147,483,647"
    )
    assert len(error.detail) < 200  # a huge value is not echoed back whole


def test_query_choice():
    assert (
        query_choice(q("board=private"), "board", choices=("public", "private"), default="public")
        == "private"
    )
    assert query_choice(q(""), "board", choices=("public", "private"), default="public") == "public"
    with pytest.raises(InvalidParameter, match="'board' must be one of 'public', 'private'; got 'secret'"):
        query_choice(q("board=secret"), "board", choices=("public", "private"), default="public")


@pytest.fixture
def board(db, alice, bob):
    comp = competition()
    make_participations(comp, alice, bob)
    make_entry(comp, alice, 0.9)
    make_entry(comp, bob, 0.8)
    return comp


@pytest.mark.parametrize("raw", [HUGE, "²", "0"])
def test_api_leaderboard_page(board, anon_api, raw):
    response = anon_api.get(f"/api/competitions/{board.slug}/leaderboard/", {"page": raw})
    assert response.status_code == 400
    assert response.json()["parameter"] == "page" and "'page'" in response.json()["detail"]


def test_api_leaderboard_last_page_still_reads(board, anon_api):
    body = anon_api.get(f"/api/competitions/{board.slug}/leaderboard/", {"page": MAX_QUERY_INT}).json()
    assert body["results"] == [] and body["count"] == 2


@pytest.mark.parametrize("raw", [HUGE, "²"])
def test_web_leaderboard_page_says_which_parameter(board, client, raw):
    response = client.get(f"/c/{board.slug}/leaderboard/", {"page": raw})
    assert response.status_code == 400
    assert "The query parameter &#x27;page&#x27; must be a whole number" in response.content.decode()
    # The first page is shown under the message.
    assert "alice" in response.content.decode()


@pytest.mark.parametrize("raw", ["²", HUGE])
def test_compare_says_which_parameter(board, client, alice, raw):
    client.force_login(alice)
    response = client.get(f"/c/{board.slug}/compare/", {"a": raw})
    assert response.status_code == 400
    assert "The query parameter &#x27;a&#x27; must be a whole number" in response.content.decode()


@pytest.mark.parametrize("path", ["/api/datasets/iris/", "/api/datasets/iris/manifest/"])
@pytest.mark.parametrize("raw", ["²", HUGE, "0"])
def test_dataset_version(db, anon_api, path, raw):
    make_dataset("iris")
    response = anon_api.get(path, {"version": raw})
    assert response.status_code == 400
    assert response.json()["parameter"] == "version"
    assert anon_api.get(path, {"version": 1}).status_code == 200
    assert anon_api.get(path, {"version": 2}).status_code == 404


@pytest.mark.parametrize(
    "path, field",
    [
        ("/admin/competitions/competition/add/", "ends_at"),
        ("/admin/competitions/participation/add/", "accepted_rules_at"),
    ],
)
def test_admin_add_form_takes_a_date_from_the_query_or_leaves_it_out(admin_client, path, field):
    assert admin_client.get(path, {field: "²"}).status_code == 200
    page = admin_client.get(path, {field: "2031-02-03 04:05"}).content.decode()
    assert 'value="2031-02-03"' in page
