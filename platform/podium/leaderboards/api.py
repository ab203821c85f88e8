"""Board API: thin views over the leaderboard services and selectors."""

from __future__ import annotations

import csv
import io

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAdminUser, IsAuthenticated
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from podium.api_schema import error_responses
from podium.leaderboards import selectors, services
from podium.params import MAX_QUERY_INT, query_choice, query_int


class CsvRenderer(BaseRenderer):
    """Lets `?format=csv` through content negotiation; the view writes the body itself."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, (bytes, str)):
            return data
        return str(data.get("detail", "")) if isinstance(data, dict) else ""


def _user(request):
    return request.user if request.user.is_authenticated else None


def _iso(value):
    return value.isoformat().replace("+00:00", "Z") if value else None


# --- the board -------------------------------------------------------------------------


class BoardRowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    rank = serializers.IntegerField(allow_null=True)
    entrant = serializers.CharField(source="entrant_name")
    kind = serializers.CharField()
    score = serializers.FloatField(allow_null=True)
    submission_id = serializers.IntegerField(allow_null=True)
    submitted_at = serializers.DateTimeField(allow_null=True)
    entry_count = serializers.IntegerField()
    last_submitted_at = serializers.DateTimeField(allow_null=True)
    is_mine = serializers.BooleanField()
    extra_scores = serializers.DictField(
        child=serializers.FloatField(allow_null=True),
        help_text="The competition's other metrics (`extra_metrics` of the page) on this board: "
        "{metric: score or null}. They are shown, not ranked.",
    )


class PublicRowSerializer(BoardRowSerializer):
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)
    overlaps_leader = serializers.BooleanField(allow_null=True)


class PrivateRowSerializer(BoardRowSerializer):
    public_rank = serializers.IntegerField(allow_null=True)
    private_rank = serializers.IntegerField(allow_null=True)
    move = serializers.IntegerField(allow_null=True)


# The row serializers above document the shape (OpenAPI); pages are built by _row_out, which
# gives the same output without a serializer's per-field machinery (a page has up to 200 rows).
PUBLIC_FIELDS = list(PublicRowSerializer().fields)
PRIVATE_FIELDS = list(PrivateRowSerializer().fields)
_SOURCES = {"entrant": "entrant_name"}
_TIMES = {"submitted_at", "last_submitted_at"}


def _row_out(row, fields: list[str]) -> dict:
    out = {}
    for name in fields:
        value = getattr(row, _SOURCES.get(name, name))
        out[name] = _iso(value) if name in _TIMES else value
    return out


class BoardQuerySerializer(serializers.Serializer):
    """The board query as the schema documents it; `_board_query` reads it."""

    board = serializers.ChoiceField(choices=selectors.BOARDS, default=selectors.PUBLIC)
    page = serializers.IntegerField(min_value=1, max_value=MAX_QUERY_INT, default=1)
    page_size = serializers.IntegerField(
        min_value=1, max_value=selectors.MAX_PAGE_SIZE, default=selectors.DEFAULT_PAGE_SIZE
    )


def _board_query(params) -> dict:
    """The board query, as BoardQuerySerializer documents it; InvalidParameter names what is wrong."""
    return {
        "board": query_choice(params, "board", choices=selectors.BOARDS, default=selectors.PUBLIC),
        "page": query_int(params, "page", default=1),
        "page_size": query_int(
            params, "page_size", default=selectors.DEFAULT_PAGE_SIZE, maximum=selectors.MAX_PAGE_SIZE
        ),
    }


CSV_PUBLIC = [
    "rank",
    "entrant",
    "kind",
    "score",
    "ci_low",
    "ci_high",
    "overlaps_leader",
    "entry_count",
    "submitted_at",
    "last_submitted_at",
]
CSV_PRIVATE = [
    "rank",
    "entrant",
    "kind",
    "score",
    "public_rank",
    "private_rank",
    "move",
    "entry_count",
    "submitted_at",
    "last_submitted_at",
]


def _csv_cell(value):
    # A name starting with = + - @ would run as a formula in a spreadsheet.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    if hasattr(value, "isoformat"):
        return _iso(value)
    return "" if value is None else value


def extra_metrics_out(names) -> list[dict]:
    from datasets.metrics import METRICS

    return [
        {
            "name": name,
            "title": METRICS[name].title if name in METRICS else name,
            "higher_is_better": METRICS[name].higher_is_better if name in METRICS else None,
        }
        for name in names
    ]


def board_csv_response(*, competition, board: str, user) -> HttpResponse:
    rows = selectors.board_rows_all(competition=competition, board=board, user=user)
    columns = CSV_PUBLIC if board == selectors.PUBLIC else CSV_PRIVATE
    extra = selectors.board_extra_metrics(competition)
    # The other metrics follow the board's own columns, each headed by its metric's name.
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*columns, *extra])
    for row in rows:
        values = {**row.__dict__, "entrant": row.entrant_name}
        writer.writerow(
            [_csv_cell(values[c]) for c in columns] + [_csv_cell(v) for v in row.extra_values(extra)]
        )
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{competition.slug}-{board}-leaderboard.csv"'
    return response


class BoardPageSerializer(serializers.Serializer):
    competition = serializers.CharField()
    board = serializers.ChoiceField(choices=selectors.BOARDS)
    metric = serializers.CharField()
    higher_is_better = serializers.BooleanField()
    extra_metrics = serializers.ListField(
        child=serializers.DictField(),
        help_text="The other metrics shown as columns, in order: {name, title, higher_is_better}.",
    )
    ladder = serializers.DictField()
    revealed = serializers.BooleanField()
    revealed_at = serializers.DateTimeField(allow_null=True)
    count = serializers.IntegerField()
    page = serializers.IntegerField()
    page_size = serializers.IntegerField()
    pages = serializers.IntegerField()
    results = PublicRowSerializer(many=True, help_text="PrivateRowSerializer rows when board=private")
    mine = PublicRowSerializer(allow_null=True)


class RevealInputSerializer(serializers.Serializer):
    close = serializers.BooleanField(
        default=False,
        help_text="Required before the deadline: the reveal then closes the competition (its end becomes now).",
    )


class RevealOutputSerializer(serializers.Serializer):
    revealed = serializers.BooleanField()
    revealed_now = serializers.BooleanField()
    revealed_at = serializers.DateTimeField()
    closed_now = serializers.BooleanField()
    ends_at = serializers.DateTimeField()


class HistoryOutputSerializer(serializers.Serializer):
    row = serializers.IntegerField()
    entrant = serializers.CharField()
    results = serializers.ListField()


class FinalPickOutputSerializer(serializers.Serializer):
    submission_id = serializers.IntegerField()
    is_final_pick = serializers.BooleanField()


class LeaderboardApi(APIView):
    """GET a page of the public or private board, with the caller's own row beside it."""

    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, CsvRenderer]

    @extend_schema(
        parameters=[BoardQuerySerializer],
        responses={
            (200, "application/json"): BoardPageSerializer,
            (200, "text/csv"): OpenApiTypes.STR,
            **error_responses(403),
        },
    )
    def get(self, request, slug):
        competition = selectors.competition_for_board_page(slug=slug, user=_user(request))
        query = _board_query(request.query_params)
        board = query["board"]
        if request.accepted_renderer.format == "csv":
            return board_csv_response(competition=competition, board=board, user=_user(request))
        page = selectors.board_page(
            competition=competition,
            board=board,
            page=query["page"],
            page_size=query["page_size"],
            user=_user(request),
        )
        fields = PUBLIC_FIELDS if board == selectors.PUBLIC else PRIVATE_FIELDS
        return Response(
            {
                "competition": competition.slug,
                "board": page.board,
                "metric": competition.metric,
                "higher_is_better": competition.higher_is_better,
                "extra_metrics": extra_metrics_out(page.extra_metrics),
                "ladder": {"enabled": competition.ladder_enabled, "step": competition.ladder_step},
                "revealed": page.revealed,
                "revealed_at": _iso(competition.private_revealed_at),
                "count": page.count,
                "page": page.page,
                "page_size": page.page_size,
                "pages": page.pages,
                "results": [_row_out(row, fields) for row in page.rows],
                "mine": _row_out(page.mine, fields) if page.mine else None,
            }
        )


class LeaderboardCsvApi(APIView):
    # The board itself is written by board_csv_response; the renderers answer the errors, as
    # JSON unless the client asks for text/csv.
    renderer_classes = [JSONRenderer, CsvRenderer]

    @extend_schema(
        parameters=[BoardQuerySerializer],
        responses={(200, "text/csv"): OpenApiTypes.STR, **error_responses(403)},
    )
    def get(self, request, slug):
        competition = selectors.competition_for_board(slug=slug, user=_user(request))
        board = _board_query(request.query_params)["board"]
        return board_csv_response(competition=competition, board=board, user=_user(request))


class LeaderboardRevealApi(APIView):
    """An admin reveals the private board before the deadline: 409 while the competition is
    open, unless the body says {"close": true}, which closes it to entries first."""

    permission_classes = [IsAdminUser]

    @extend_schema(
        request=RevealInputSerializer, responses={200: RevealOutputSerializer, **error_responses(409)}
    )
    def post(self, request, slug):
        competition = selectors.competition_for_board(slug=slug, user=_user(request))
        body = RevealInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        reveal = services.board_reveal(competition=competition, close=body.validated_data["close"])
        return Response(
            {
                "revealed": True,
                "revealed_now": reveal.revealed_now,
                "revealed_at": _iso(competition.private_revealed_at),
                "closed_now": reveal.closed_now,
                "ends_at": _iso(competition.ends_at),
            }
        )


class HistoryItemSerializer(serializers.Serializer):
    submission_id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    status = serializers.CharField()
    public_score = serializers.FloatField(allow_null=True)
    public_ci_low = serializers.FloatField(allow_null=True)
    public_ci_high = serializers.FloatField(allow_null=True)
    private_score = serializers.FloatField(allow_null=True)
    is_final_pick = serializers.BooleanField()
    counts_as_final_pick = serializers.BooleanField()
    shown_on_board = serializers.BooleanField()


class BoardRowHistoryApi(APIView):
    """A row's entries, for the row's owner (or team members) and admins only."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=HistoryOutputSerializer)
    def get(self, request, slug, row_id):
        competition = selectors.competition_for_board(slug=slug, user=_user(request))
        entry = selectors.board_row_get_for_owner(competition=competition, row_id=row_id, user=request.user)
        items = selectors.board_row_history(competition=competition, entry=entry, user=request.user)
        return Response(
            {
                "row": entry.pk,
                "entrant": entry.entrant_name,
                "results": HistoryItemSerializer(items, many=True).data,
            }
        )


class FinalPickApi(APIView):
    """Toggle an entry as a final pick for the private board."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={200: FinalPickOutputSerializer, **error_responses(400)})
    def post(self, request, submission_id):
        submission = services.final_pick_toggle(submission_id=submission_id, user=request.user)
        return Response({"submission_id": submission.pk, "is_final_pick": submission.is_final_pick})
