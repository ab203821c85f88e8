"""The `podium` command line: compete from a terminal, as with Kaggle's.

    podium login                          save the site URL and an API token (create one on the site)
    podium competitions [--csv]           list competitions
    podium join SLUG --accept-rules       join a competition (accepting its rules)
    podium files SLUG                     the competition's data files
    podium download SLUG [FILE]           download all of them, or one
    podium validate SLUG --config X       check a config (or a predictions FILE) without submitting
    podium submit SLUG FILE               submit a predictions CSV
    podium submit SLUG --config X -m ...  submit a model config (YAML or JSON) [--wait]
    podium submissions SLUG               your entries
    podium status ID [--watch]            an entry's state, epochs and scores
    podium cancel ID                      cancel an entry that is not final yet
    podium picks SLUG [--add ID] [--remove ID]   your final picks for the private board
    podium leaderboard SLUG [--download F]       the board (or all of it as CSV)
    podium teams list|mine|create|join|leave SLUG ...
    podium leaderboard SLUG --phase P [--late]   a phase's board, or its late board
    podium phases SLUG                    a competition's phases: windows, which is current
    podium ablate ENTRY [--list]          what an ablation of a scored model entry can change, quota left
    podium ablate ENTRY --variant KEY ... start an ablation with these variants (or --all) [--watch]
    podium ablation ID [--json] [--watch] an ablation's table: each variant's score against the original
    podium ablation ID --cancel           stop an ablation's runs

PODIUM_URL and PODIUM_TOKEN override the saved login. Shell completion:
`podium --install-completion`.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from podium_client import settings as saved
from podium_client.client import FINAL_STATUSES, PodiumClient
from podium_client.errors import ApiError, AuthError, ConnectionFailed, PodiumError, RateLimited

app = typer.Typer(
    name="podium",
    help="Podium: compete from the command line.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
teams_app = typer.Typer(help="Teams: list, show yours, create, join by code, leave.", no_args_is_help=True)
app.add_typer(teams_app, name="teams")

out = Console(highlight=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)

STATUS_STYLE = {
    "created": "dim",
    "queued": "yellow",
    "running": "cyan",
    "scoring": "blue",
    "scored": "green",
    "failed": "red",
    "cancelled": "magenta",
}
CONFIG_SUFFIXES = (".yaml", ".yml", ".json")
WITHHELD = {
    "ladder": "withheld under the Ladder until the private reveal; the board shows the released scores",
    "private": "shown after the private reveal",
}


def _version(value: bool) -> None:
    if value:
        try:
            version = metadata.version("podium")
        except metadata.PackageNotFoundError:  # run from a checkout that was never installed
            version = "unknown (not installed)"
        out.print(f"podium {version}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Podium: compete from the command line."""


def _client(*, need_token: bool = True) -> PodiumClient:
    creds = saved.load()
    if need_token and not creds.token:
        raise PodiumError("not logged in: run `podium login` (or set PODIUM_TOKEN)")
    return PodiumClient(creds.url, creds.token)


def error_line(exc: PodiumError) -> str:
    """One readable line: what the server said (never the request's method and URL), or why
    the server could not be reached."""
    if isinstance(exc, ApiError):
        line = exc.detail
        if exc.status >= 500:
            line += f" (the server failed: HTTP {exc.status})"
        return line
    if isinstance(exc, ConnectionFailed) and exc.reason:
        return exc.reason
    return exc.message


@contextmanager
def _reported(*, slug: str | None = None) -> Iterator[None]:
    """Turn any client error into `error: …` on stderr and exit status 1."""
    try:
        yield
    except PodiumError as exc:
        err.print(Text("error: ", style="bold red") + Text(error_line(exc)))
        for problem in getattr(exc, "problems", []):
            err.print(Text(f"  - {problem}"))
        if isinstance(exc, RateLimited) and exc.reset_at:
            err.print(f"the daily limit resets at {exc.reset_at}")
        if isinstance(exc, AuthError) and slug and "join" in exc.detail.lower():
            err.print(f"join it with: podium join {slug} --accept-rules")
        raise typer.Exit(1) from None


def _score(value) -> str:
    return "—" if value is None else f"{value:.5f}"


def _num(value, fmt: str = ".4f") -> str:
    return "—" if value is None else format(value, fmt)


def _when(value) -> str:
    return str(value or "").replace("T", " ")[:16]


# --- account --------------------------------------------------------------------------


@app.command()
def login(
    url: Annotated[str, typer.Option(help="The site, e.g. http://127.0.0.1:8000")] = "",
    token: Annotated[str, typer.Option(help="An API token from your account page")] = "",
) -> None:
    """Save the site URL and your API token (checked against the site first)."""
    creds = saved.load()
    url = (url or creds.url).rstrip("/")
    if not token:
        token = typer.prompt("API token", hide_input=True).strip()
    with _reported(), PodiumClient(url, token) as client:
        me = client.me()
    path = saved.save(saved.Credentials(url=url, token=token))
    out.print(f"Logged in to {url} as [bold]{me.get('username', '?')}[/bold]; saved in {path}")


# --- competitions and data -----------------------------------------------------------


COMPETITION_COLUMNS = ("slug", "title", "status", "metric", "ends", "kinds", "joined")


def _competition_row(c: dict) -> tuple[str, ...]:
    return (
        str(c.get("slug")),
        str(c.get("title", "")),
        str(c.get("status", "")),
        str(c.get("metric", "")),
        str(c.get("ends_at") or "")[:10],
        ", ".join(c.get("accepted_kinds") or []),
        "yes" if c.get("has_joined") else "",
    )


@app.command()
def competitions(
    status: Annotated[str | None, typer.Option(help="open, upcoming or past")] = None,
    search: Annotated[str | None, typer.Option(help="Words in the title or description")] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV instead of a table")] = False,
) -> None:
    """List competitions."""
    with _reported(), _client(need_token=False) as client:
        rows = client.competitions(status=status, search=search)
    if as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(COMPETITION_COLUMNS)
        writer.writerows(_competition_row(c) for c in rows)
        return
    # A slug is what the other commands take: never cut. A table narrower than its cells
    # would cut it (rich shrinks columns to the terminal), so a narrow terminal gets a list.
    longest = max((len(str(c.get("slug"))) for c in rows), default=4)
    if out.width < longest + 70:
        for c in rows:
            slug, title, *rest = _competition_row(c)
            out.print(Text(slug, style="bold"), soft_wrap=True)
            out.print(Text(f"  {title}"), Text("  " + " · ".join(v for v in rest if v)))
        return
    table = Table(title="Competitions")
    for column in COMPETITION_COLUMNS:
        table.add_column(
            column, **({"no_wrap": True, "min_width": longest} if column == "slug" else {"overflow": "fold"})
        )
    for c in rows:
        table.add_row(*_competition_row(c))
    out.print(table)


@app.command()
def join(
    slug: str,
    accept_rules: Annotated[
        bool, typer.Option("--accept-rules", help="Say that you have read and accept the rules")
    ] = False,
) -> None:
    """Join a competition: needed to download its data and to submit. Joining accepts its rules."""
    with _reported(slug=slug), _client() as client:
        competition = client.competition(slug)
        if competition.get("has_joined"):
            out.print(f"You have already joined {slug}.")
            return
        if not accept_rules:
            rules = competition.get("rules") or {}
            out.print(f"[bold]{competition.get('title', slug)}[/bold]: the rules")
            out.print(rules.get("text") or "(no rules text)")
            budget = rules.get("budget") or {}
            out.print(
                f"Entries: {rules.get('daily_limit')} a day (resets {rules.get('daily_reset')}); "
                f"final picks: {rules.get('max_final_picks')}; training budget: "
                f"{budget.get('epochs')} epochs, {budget.get('parameters')} parameters, {budget.get('seconds')} s"
                + (
                    f"; sweeps and ensembles of up to {budget['max_variants']} models share it."
                    if (budget.get("max_variants") or 1) > 1
                    else "."
                )
            )
            if not sys.stdin.isatty() or not typer.confirm("Do you accept these rules?", default=False):
                err.print(
                    Text("error: ", style="bold red")
                    + Text(f"the rules were not accepted; to join, run: podium join {slug} --accept-rules")
                )
                raise typer.Exit(1)
        client.join(slug, accept_rules=True)
    out.print(f"Joined {slug}. Next: podium download {slug}")


@app.command()
def files(slug: str) -> None:
    """The competition's data files (hidden labels are never among them)."""
    with _reported(slug=slug), _client(need_token=False) as client:
        rows = client.dataset_files(slug)
    table = Table(title=f"{slug}: files")
    table.add_column("name", no_wrap=True)
    table.add_column("bytes", justify="right")
    table.add_column("sha256 (first 16)", no_wrap=True)
    for f in rows:
        table.add_row(str(f.get("name")), f"{f.get('size', 0):,}", str(f.get("sha256", ""))[:16])
    out.print(table)


@app.command()
def download(
    slug: str,
    file: Annotated[str | None, typer.Argument(help="One file (default: all of them)")] = None,
    dest: Annotated[Path | None, typer.Option("--dest", "-d", help="Folder (default: ./SLUG)")] = None,
) -> None:
    """Download a competition's data files (train.csv, test.csv, sample_submission.csv), or one."""
    dest = dest or Path(slug)
    with _reported(slug=slug), _client(need_token=False) as client:
        if file is not None:
            names = [f.get("name") for f in client.dataset_files(slug)]
            if file not in names:
                raise PodiumError(f"{slug} has no file {file!r}; its files: {', '.join(names)}")
        paths = client.download(slug, dest, names=[file] if file else None)
    for path in paths:
        out.print(f"{path}  ({path.stat().st_size:,} bytes)")


# --- entries --------------------------------------------------------------------------


def _entry_args(file: Path | None, config: Path | None) -> None:
    if (file is None) == (config is None):
        err.print("error: give either a predictions FILE or --config CONFIG")
        raise typer.Exit(2)
    if file is not None and file.suffix.lower() in CONFIG_SUFFIXES:
        err.print(
            f"error: {file} looks like a model config, not a predictions CSV; pass it as --config {file}"
        )
        raise typer.Exit(2)


@app.command()
def validate(
    slug: str,
    file: Annotated[Path | None, typer.Argument(help="A predictions CSV")] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="A model config, YAML or JSON")
    ] = None,
) -> None:
    """Check a model config (or a predictions CSV) against a competition without submitting it."""
    _entry_args(file, config)
    with _reported(slug=slug), _client() as client:
        answer = client.validate(slug, file=file, config=config)
    if answer.get("kind") == "config":
        budget = answer.get("budget") or {}
        out.print(
            f"valid: {answer.get('parameters'):,} parameters (budget {_limit(budget.get('params'))}), "
            f"{answer.get('epochs')} epochs (budget {_limit(budget.get('epochs'))}); nothing was submitted"
        )
    else:
        out.print("valid: every test id has one prediction; nothing was submitted")


def _limit(value) -> str:
    return "none" if value is None else f"{value:,}"


@app.command()
def submit(
    slug: str,
    file: Annotated[Path | None, typer.Argument(help="A predictions CSV")] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="A model config, YAML or JSON")
    ] = None,
    description: Annotated[str, typer.Option("--description", "-m", help="A note for yourself")] = "",
    wait: Annotated[bool, typer.Option("--wait", "-w", help="Watch it until it is final")] = False,
    phase: Annotated[
        str | None, typer.Option("--phase", "-p", help="A phase's slug (default: the current phase)")
    ] = None,
) -> None:
    """Submit a predictions CSV or a model config (to the current phase unless --phase names one)."""
    _entry_args(file, config)
    with _reported(slug=slug), _client() as client:
        entry = client.submit(slug, file=file, config=config, description=description, phase=phase)
        daily = (entry.get("limits") or {}).get("daily") or {}
        out.print(
            f"Submitted entry [bold]#{entry['id']}[/bold] ({entry.get('kind')}): {entry.get('status')}"
            + (f"; {daily['remaining']} left today (resets {daily.get('resets_at')})" if daily else "")
        )
        if wait:
            entry = _watch(client, int(entry["id"]))
    if wait and entry.get("status") == "failed":
        raise typer.Exit(3)


@app.command()
def submissions(
    slug: str,
    status: Annotated[list[str] | None, typer.Option(help="Only these statuses (repeatable)")] = None,
) -> None:
    """Your entries in a competition (your team's, in a team), newest first."""
    with _reported(slug=slug), _client() as client:
        rows = client.submissions(slug, status=status or None)
    rows.sort(key=lambda r: (r.get("created_at") or "", r.get("id") or 0), reverse=True)
    table = Table(title=f"{slug}: your entries")
    for column, justify in (
        ("id", "right"),
        ("created", "left"),
        ("kind", "left"),
        ("status", "left"),
        ("public", "right"),
        ("private", "right"),
        ("pick", "left"),
        ("description", "left"),
    ):
        table.add_column(column, justify=justify, overflow="fold")
    withheld = set()
    for r in rows:
        if r.get("scores_withheld"):
            withheld.add(r["scores_withheld"])
        table.add_row(
            str(r.get("id")),
            _when(r.get("created_at")),
            str(r.get("kind")),
            Text(str(r.get("status")), style=STATUS_STYLE.get(str(r.get("status")), "")),
            _score(r.get("public_score")),
            _score(r.get("private_score")),
            "final" if r.get("is_final_pick") else "",
            str(r.get("description") or ""),
        )
    out.print(table)
    for reason in sorted(withheld):
        out.print(f"— {'public' if reason == 'ladder' else 'private'} scores: {WITHHELD[reason]}")


def _status_view(entry: dict) -> Group:
    status = entry.get("status", "?")
    head = Table.grid(padding=(0, 2))
    head.add_row("entry", f"#{entry.get('id')} ({entry.get('kind')}) in {entry.get('competition')}")
    head.add_row("status", Text(status, style=STATUS_STYLE.get(status, "")))
    head.add_row("attempt", str(entry.get("attempt")))
    withheld = entry.get("scores_withheld")
    public = _score(entry.get("public_score"))
    if entry.get("public_score") is None and withheld == "ladder":
        public += f" ({WITHHELD['ladder']})"
    head.add_row("public score", public)
    if entry.get("private_score") is not None:
        head.add_row("private score", _score(entry.get("private_score")))
    elif withheld and status == "scored":
        head.add_row("private score", f"— ({WITHHELD['private']})")
    if entry.get("is_final_pick"):
        head.add_row("final pick", "yes")
    if entry.get("error_message"):
        head.add_row("reason", Text(entry["error_message"], style="red"))
    models = _models_line((entry.get("training_report") or {}).get("variants"))
    if models:
        head.add_row("models", models)
    parts: list = [head]
    epochs = entry.get("epochs") or []
    if epochs:
        # A sweep's or an ensemble's epochs say which model trained them.
        variants = any("variant" in e for e in epochs)
        table = Table(title="epochs", title_justify="left")
        for column in ("variant",) * variants + (
            "epoch",
            "train loss",
            "val loss",
            "val metric",
            "lr",
            "seconds",
        ):
            table.add_column(column, justify="right")
        for e in epochs[-15:]:
            metric = e.get("val_metric") or {}
            value = metric.get("value") if isinstance(metric, dict) else metric
            table.add_row(
                *((str(e.get("variant")),) if variants else ()),
                str(e.get("epoch")),
                _num(e.get("train_loss")),
                _num(e.get("val_loss")),
                _num(value),
                _num(e.get("lr"), ".2e"),
                _num(e.get("seconds"), ".2f"),
            )
        parts.append(table)
    return Group(*parts)


def _models_line(report: dict | None) -> str:
    """What a sweep or an ensemble did with its models (the run report's `variants`)."""
    if not report:
        return ""
    outcomes = report.get("outcomes") or []
    failed = sum(1 for o in outcomes if "error" in o)
    tail = f"; {failed} failed" if failed else ""
    if report.get("kind") == "sweep":
        kept = next((o for o in outcomes if o.get("index") == report.get("kept")), {})
        return f"sweep of {len(outcomes)}: kept variant {kept.get('index')} ({kept.get('label')}){tail}"
    return f"ensemble of {len(outcomes)} seeds, predictions averaged{tail}"


def _live_until_final(fetch, view, final, *, interval: float, first=None, timeout: float = 3600) -> dict:
    """Show `view(fetch())` live (`first`: the answer already fetched), fetched again every
    `interval` seconds until its status is in `final` (or `timeout`); returns the last answer."""
    thing = first if first is not None else fetch()
    deadline = time.monotonic() + timeout
    with Live(view(thing), console=out, refresh_per_second=4, transient=False) as live:
        while thing.get("status") not in final and time.monotonic() < deadline:
            time.sleep(interval)
            thing = fetch()
            live.update(view(thing))
    if not out.is_terminal:
        # Rich ends the live display with a newline on a terminal only: piped into a file or
        # another program, the last line would stay open (and a prompt follow on it).
        out.file.write("\n")
        out.file.flush()
    return thing


def _watch(client: PodiumClient, submission_id: int, interval: float = 1.0) -> dict:
    return _live_until_final(
        lambda: client.submission(submission_id), _status_view, FINAL_STATUSES, interval=interval
    )


@app.command()
def status(
    submission_id: Annotated[int, typer.Argument(metavar="ID")],
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Follow it until it is final")] = False,
) -> None:
    """Show an entry: status, epochs, scores, and the reason when it failed."""
    with _reported(), _client() as client:
        entry = _watch(client, submission_id) if watch else client.submission(submission_id)
        if not watch:
            out.print(_status_view(entry))
    if entry.get("status") == "failed":
        raise typer.Exit(3)


@app.command()
def cancel(submission_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Cancel an entry that is not final yet."""
    with _reported(), _client() as client:
        entry = client.cancel(submission_id)
    out.print(f"entry #{entry['id']}: {entry['status']}")


@app.command()
def picks(
    slug: str,
    add: Annotated[list[int] | None, typer.Option("--add", help="Choose this entry (repeatable)")] = None,
    remove: Annotated[
        list[int] | None, typer.Option("--remove", help="Unchoose this entry (repeatable)")
    ] = None,
) -> None:
    """Your final picks: the entries that count on the private board (the best public ones when none is chosen)."""
    with _reported(slug=slug), _client() as client:
        for submission_id, wanted in [(i, False) for i in remove or []] + [(i, True) for i in add or []]:
            entry = client.submission(submission_id)
            if entry.get("competition") != slug:
                raise PodiumError(f"entry #{submission_id} is in {entry.get('competition')}, not {slug}")
            if bool(entry.get("is_final_pick")) != wanted:
                client.final_pick_toggle(submission_id)
            out.print(f"entry #{submission_id}: {'a final pick' if wanted else 'not a final pick'}")
        competition = client.competition(slug)
        chosen = [r for r in client.submissions(slug, status=["scored"]) if r.get("is_final_pick")]
    limit = competition.get("max_final_picks")
    if not chosen:
        out.print(
            f"No final picks chosen in {slug}: your best {limit} public entries count. "
            f"Choose with: podium picks {slug} --add ID"
        )
        return
    table = Table(title=f"{slug}: final picks ({len(chosen)} of {limit})")
    for column in ("id", "created", "public", "description"):
        table.add_column(column, justify="right" if column in ("id", "public") else "left")
    for r in chosen:
        table.add_row(
            str(r["id"]),
            _when(r.get("created_at")),
            _score(r.get("public_score")),
            r.get("description") or "",
        )
    out.print(table)


@app.command()
def leaderboard(
    slug: str,
    private: Annotated[bool, typer.Option("--private", help="The private board (after the reveal)")] = False,
    page: Annotated[int | None, typer.Option(help="Page number")] = None,
    phase: Annotated[
        str | None, typer.Option("--phase", "-p", help="A phase's slug (default: the current phase)")
    ] = None,
    late: Annotated[
        bool, typer.Option("--late", help="The phase's late board (entries after its end)")
    ] = False,
    download_to: Annotated[
        Path | None, typer.Option("--download", help="Write the whole board to this CSV file instead")
    ] = None,
) -> None:
    """Show a competition's board (a phase's, or its late board), or download all of it as CSV."""
    board = "private" if private else "public"
    with _reported(slug=slug), _client(need_token=False) as client:
        if download_to is not None:
            path = client.leaderboard_csv(slug, download_to, board=board, phase=phase, late=late)
            out.print(f"{path}  ({path.stat().st_size:,} bytes)")
            return
        answer = client.leaderboard(slug, board=board, page=page, phase=phase, late=late)
    rows = answer.get("results", [])
    # The ranking metric heads the score column; the competition's other metrics follow it.
    extra = [m["name"] for m in answer.get("extra_metrics", [])]
    metric = answer.get("metric", "score")
    shown = (answer.get("phase") or {}).get("slug")
    where = f"{slug}/{shown}" if shown and shown != "main" else slug
    title = f"{where}: {board} {'late ' if late else ''}leaderboard ({metric})"
    if answer.get("pages", 1) > 1:
        title += f", page {answer.get('page')} of {answer.get('pages')}"
    table = Table(title=title)
    table.add_column("rank", justify="right")
    table.add_column("entrant")
    table.add_column(metric, justify="right")
    for name in extra:
        table.add_column(name, justify="right")
    table.add_column("entries", justify="right")
    table.add_column("last")
    mine = (answer.get("mine") or {}).get("id")
    for row in rows:
        others = row.get("extra_scores") or {}
        table.add_row(
            str(row.get("rank") or ""),
            str(row.get("entrant") or ""),
            _score(row.get("score")),
            *(_score(others.get(name)) for name in extra),
            str(row.get("entry_count", "")),
            _when(row.get("last_submitted_at")),
            style="bold" if row.get("id") == mine else None,
        )
    out.print(table)
    ladder = answer.get("ladder") or {}
    if ladder.get("enabled") and board == "public":
        out.print(f"Ladder: a score is released only when it beats the last by {ladder.get('step')}.")
    if mine and all(r.get("id") != mine for r in rows):
        row = answer["mine"]
        out.print(f"You: rank {row.get('rank')}, score {_score(row.get('score'))}")


@app.command()
def phases(slug: str) -> None:
    """Show a competition's phases: windows, limits, which one is current."""
    with _reported(slug=slug), _client(need_token=False) as client:
        listed = client.phases(slug)
    table = Table(title=f"{slug}: phases")
    for column in ("#", "phase", "status", "starts", "ends", "daily", "late entries"):
        table.add_column(column, justify="right" if column in ("#", "daily") else "left")
    for p in listed:
        table.add_row(
            str(p.get("number")),
            f"{p.get('slug')}{' (current)' if p.get('current') else ''}",
            str(p.get("status")),
            str(p.get("starts_at") or "")[:16],
            str(p.get("ends_at") or "no end")[:16],
            str(p.get("daily_limit")),
            "yes" if p.get("late_entries") else "no",
        )
    out.print(table)


# --- ablations (the techniques lab) ----------------------------------------------------

ABLATION_FINAL = frozenset({"done", "failed", "cancelled"})
BASELINE_KEY = "baseline"  # the run that retrains the entry's own config (the API's row key)
RUN_STYLE = {"queued": "yellow", "running": "cyan", "done": "green", "failed": "red", "cancelled": "magenta"}


def _quota_line(quota: dict | None) -> str:
    """The daily compute quota for ablations, as the options answer says it."""
    if not quota:
        return ""
    if not quota.get("daily"):
        return "Ablations are off in this competition (its organisers set no compute quota)."
    return (
        f"Compute quota today: {quota.get('used', 0):,} of {quota['daily']:,} model-epochs used, "
        f"{quota.get('remaining', 0):,} left (resets {_when(quota.get('resets_at'))} UTC); "
        f"each run costs {quota.get('epochs_per_run', 0):,}, and an ablation of N variants trains "
        "N + 1 runs (the original is retrained too)."
    )


def _options_view(submission_id: int, options: dict, ablations: list[dict]) -> Group:
    parts: list = []
    variants = options.get("variants") or []
    if variants:
        table = Table(title=f"entry #{submission_id}: what an ablation can change", title_justify="left")
        table.add_column("technique")
        table.add_column("key", no_wrap=True)
        table.add_column("what changes", overflow="fold")
        for v in variants:
            change = Text(str(v.get("change")))
            if v.get("fits") is False:  # listed, not offered: over the competition's budget
                change.append(f"\nnot under the budget: {v.get('problem')}", style="red")
            table.add_row(
                str(v.get("technique")),
                str(v.get("key")),
                change,
                style="dim" if v.get("fits") is False else None,
            )
        parts.append(table)
    else:
        parts.append(
            Text(f"entry #{submission_id}: no technique of its config can be changed one at a time.")
        )
    line = _quota_line(options.get("quota"))
    if line:
        parts.append(Text(line))
    if ablations:
        parts.append(
            Text(
                "your ablations of it: "
                + ", ".join(f"#{a.get('id')} ({a.get('status')})" for a in ablations)
                + " — show one with: podium ablation ID"
            )
        )
    if variants:
        parts.append(
            Text(f"start with: podium ablate {submission_id} --variant KEY [--variant KEY …], or --all")
        )
    return Group(*parts)


def _interval(low, high, fmt: str = ".4f") -> str:
    return "" if low is None or high is None else f" [{format(low, fmt)}, {format(high, fmt)}]"


def _signed(value) -> str:
    return "—" if value is None else f"{value:+.4f}"


def _higher_is_better(client: PodiumClient, metric: str | None) -> bool | None:
    """Whether a higher score is better for the ablation's metric (the server's metric list); None: unknown."""
    return next((m.get("higher_is_better") for m in client.metrics() if m.get("name") == metric), None)


def _noise(row: dict, higher_is_better: bool | None) -> str:
    """Whether a variant's difference is beyond noise, and which way when the metric says."""
    beyond = row.get("beyond_noise")
    if beyond is None:
        return ""
    if not beyond:
        return "no"
    if higher_is_better is None or row.get("diff") is None:
        return "yes"
    return "yes, better" if (row["diff"] > 0) == higher_is_better else "yes, worse"


# Narrower than this, the ablation's table would fold its numbers: one block per variant instead.
ABLATION_TABLE_WIDTH = 120


def _ablation_view(ablation: dict, higher_is_better: bool | None = None, width: int = 200) -> Group:
    status = str(ablation.get("status", "?"))
    head = Table.grid(padding=(0, 2))
    head.add_row("ablation", f"#{ablation.get('id')} of entry #{ablation.get('submission')}")
    head.add_row("status", Text(status, style=RUN_STYLE.get(status, "")))
    holdout = ablation.get("holdout") or {}
    if holdout:
        head.add_row(
            "scored on",
            f"{holdout.get('fraction', 0):.0%} of the training rows held out (seed {holdout.get('seed')}), "
            "never the test set",
        )
    if ablation.get("metric"):
        head.add_row("metric", str(ablation["metric"]))
    if width < ABLATION_TABLE_WIDTH:
        return Group(head, *_ablation_blocks(ablation, higher_is_better))
    table = Table(title="variants against the original", title_justify="left")
    for column, justify in (
        ("variant", "left"),
        ("what changed", "left"),
        ("status", "left"),
        ("score [95%]", "right"),
        ("difference [95%]", "right"),
        ("beyond noise", "left"),
        ("parameters", "right"),
        ("seconds", "right"),
    ):
        table.add_column(column, justify=justify, overflow="fold")
    for row in ablation.get("rows") or []:
        run_status = str(row.get("status", ""))
        baseline = row.get("key") == BASELINE_KEY
        if baseline:
            diff, noise = "the original", ""
        else:
            diff = _signed(row.get("diff")) + _interval(*(row.get("diff_ci") or [None, None]), "+.4f")
            noise = _noise(row, higher_is_better)
        table.add_row(
            "original" if baseline else str(row.get("key")),
            str(row.get("change") or ""),
            Text(run_status, style=RUN_STYLE.get(run_status, "")),
            _num(row.get("score")) + _interval(*(row.get("score_ci") or [None, None])),
            diff,
            noise,
            "—" if row.get("parameters") is None else f"{row['parameters']:,}",
            _num(row.get("seconds"), ".1f"),
        )
    parts: list = [head, table]
    for row in ablation.get("rows") or []:
        if row.get("error"):
            parts.append(Text(f"{row.get('key')}: {row['error']}", style="red"))
    return Group(*parts)


def _ablation_blocks(ablation: dict, higher_is_better: bool | None) -> list:
    """The table's rows for a narrow terminal: the variant, then its numbers, then what it changed."""
    parts: list = [Text("variants against the original", style="bold")]
    for row in ablation.get("rows") or []:
        run_status = str(row.get("status", ""))
        baseline = row.get("key") == BASELINE_KEY
        name = Text("original" if baseline else str(row.get("key")), style="bold")
        parts.append(Text.assemble(name, "  ", Text(run_status, style=RUN_STYLE.get(run_status, ""))))
        parts.append(
            Text("  score " + _num(row.get("score")) + _interval(*(row.get("score_ci") or [None, None])))
        )
        if not baseline:
            diff = _signed(row.get("diff")) + _interval(*(row.get("diff_ci") or [None, None]), "+.4f")
            parts.append(Text(f"  difference {diff}  beyond noise: {_noise(row, higher_is_better) or '—'}"))
        params = "—" if row.get("parameters") is None else f"{row['parameters']:,}"
        parts.append(Text(f"  {params} parameters, {_num(row.get('seconds'), '.1f')} s"))
        if row.get("change") and not baseline:
            parts.append(Text(f"  {row['change']}", style="dim"))
        if row.get("error"):
            parts.append(Text(f"  {row['error']}", style="red"))
    return parts


def _watch_ablation(client: PodiumClient, ablation_id: int, interval: float = 2.0) -> dict:
    first = client.ablation(ablation_id)
    direction = _higher_is_better(client, first.get("metric"))
    return _live_until_final(
        lambda: client.ablation(ablation_id),
        lambda ablation: _ablation_view(ablation, direction, out.width),
        ABLATION_FINAL,
        interval=interval,
        first=first,
    )


@app.command()
def ablate(
    submission_id: Annotated[int, typer.Argument(metavar="ENTRY", help="A scored model entry of yours")],
    variant: Annotated[
        list[str] | None, typer.Option("--variant", "-v", help="A variant's key (repeatable)")
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Start with every variant listed")] = False,
    listing: Annotated[bool, typer.Option("--list", help="Only list the variants and the quota")] = False,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Follow the ablation until it ends")] = False,
) -> None:
    """Ablate an entry: retrain it with one technique changed at a time, each scored on held-out training rows."""
    if listing and (variant or every):
        err.print("error: --list starts nothing; leave out --variant and --all")
        raise typer.Exit(2)
    if variant and every:
        err.print("error: give --variant KEY (repeatable) or --all, not both")
        raise typer.Exit(2)
    with _reported(), _client() as client:
        if listing or not (variant or every):
            out.print(
                _options_view(
                    submission_id, client.ablation_options(submission_id), client.ablations(submission_id)
                )
            )
            return
        keys = list(variant or [])
        if every:
            offered = client.ablation_options(submission_id).get("variants") or []
            # Every variant that fits the competition's budget (the others are listed, not offered).
            keys = [v["key"] for v in offered if v.get("fits", True)]
            if not keys:
                raise PodiumError(
                    f"entry #{submission_id}: no variant of its config fits the competition's budget"
                    if offered
                    else f"entry #{submission_id}: no technique of its config can be changed one at a time"
                )
        started = client.ablation_start(submission_id, keys)
        out.print(
            f"Started ablation [bold]#{started['id']}[/bold] of entry #{submission_id}: "
            f"{len(keys)} variant{'s' if len(keys) != 1 else ''} and the original, retrained. "
            f"Follow it with: podium ablation {started['id']} --watch"
        )
        if watch:
            _watch_ablation(client, int(started["id"]))


@app.command()
def ablation(
    ablation_id: Annotated[int, typer.Argument(metavar="ID")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the API's answer (rows and curves) as JSON")
    ] = False,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Follow it until it ends")] = False,
    cancel_it: Annotated[bool, typer.Option("--cancel", help="Stop its runs")] = False,
) -> None:
    """An ablation's table: each variant's score with its 95% interval, its difference from the original, whether that is beyond noise."""
    with _reported(), _client() as client:
        if cancel_it:
            answer = client.ablation_cancel(ablation_id)
            out.print(f"ablation #{answer.get('id', ablation_id)}: {answer.get('status')}")
            return
        if watch and not as_json:
            _watch_ablation(client, ablation_id)
            return
        answer = client.ablation(ablation_id)
        while watch and answer.get("status") not in ABLATION_FINAL:
            time.sleep(2.0)  # --json --watch: the answer once it has ended, for a script
            answer = client.ablation(ablation_id)
        direction = None if as_json else _higher_is_better(client, answer.get("metric"))
    if as_json:
        sys.stdout.write(json.dumps(answer, indent=2) + "\n")
        return
    out.print(_ablation_view(answer, direction, out.width))


@app.command("export-bundle")
def export_bundle(
    slug: str,
    dest: Annotated[
        Path | None, typer.Option("--dest", "-d", help="The zip (default: ./SLUG-bundle.zip)")
    ] = None,
) -> None:
    """Export a competition you host as one zip (its hidden labels included: keep it private)."""
    dest = dest or Path(f"{slug}-bundle.zip")
    with _reported(slug=slug), _client() as client:
        path = client.bundle_export(slug, dest)
    out.print(f"{path}  ({path.stat().st_size:,} bytes)")


@app.command("import-bundle")
def import_bundle(
    file: Annotated[Path, typer.Argument(help="A bundle exported by export-bundle")],
    slug: Annotated[str | None, typer.Option("--slug", help="Import under this slug instead")] = None,
) -> None:
    """Import a competition bundle on this server (site staff); every problem of a bad one is listed."""
    with _reported(slug=slug), _client() as client:
        created = client.bundle_import(file, slug=slug)
    out.print(f"Imported [bold]{created['slug']}[/bold]: {created.get('title', '')}")


# --- teams ----------------------------------------------------------------------------


def _team_view(team: dict) -> None:
    out.print(f"Team [bold]{team.get('name')}[/bold]: {', '.join(team.get('members') or [])}")
    if team.get("join_code"):
        out.print(f"join code: {team['join_code']} (give it to whom you want in the team)")


@teams_app.command("list")
def teams_list(slug: str) -> None:
    """The teams of a competition."""
    with _reported(slug=slug), _client(need_token=False) as client:
        rows = client.teams(slug)
    table = Table(title=f"{slug}: teams")
    table.add_column("name", overflow="fold")
    table.add_column("members", justify="right")
    for t in rows:
        table.add_row(str(t.get("name")), str(t.get("member_count")))
    out.print(table)


@teams_app.command("mine")
def teams_mine(slug: str) -> None:
    """Your team in a competition, its members and join code."""
    with _reported(slug=slug), _client() as client:
        _team_view(client.team_mine(slug))


@teams_app.command("create")
def teams_create(slug: str, name: str) -> None:
    """Create a team (your entries so far move to it)."""
    with _reported(slug=slug), _client() as client:
        _team_view(client.team_create(slug, name))


@teams_app.command("join")
def teams_join(slug: str, code: Annotated[str, typer.Argument(help="The team's join code")]) -> None:
    """Ask to join a team by its code; a member of the team accepts (your own team, if any, then merges into it)."""
    with _reported(slug=slug), _client() as client:
        asked = client.team_join(slug, code)
    out.print(
        f"You asked to join team [bold]{asked.get('team')}[/bold] (request #{asked.get('id')}): "
        "a member of the team accepts it on the site or with the API."
    )


@teams_app.command("requests")
def teams_requests(slug: str) -> None:
    """The requests to join your team, for its members to accept or decline."""
    with _reported(slug=slug), _client() as client:
        rows = client.team_requests(slug)
    if not rows:
        out.print("Nobody has asked to join your team.")
        return
    table = Table(title=f"{slug}: requests to join your team")
    for column in ("id", "who", "team", "asked"):
        table.add_column(column, justify="right" if column == "id" else "left")
    for r in rows:
        table.add_row(str(r.get("id")), str(r.get("user")), str(r.get("team")), _when(r.get("created_at")))
    out.print(table)


@teams_app.command("accept")
def teams_accept(slug: str, request_id: int) -> None:
    """Let a person who asked into your team."""
    with _reported(slug=slug), _client() as client:
        _team_view(client.team_request_decide(slug, request_id, accept=True))


@teams_app.command("decline")
def teams_decline(slug: str, request_id: int) -> None:
    """Turn down a request to join your team."""
    with _reported(slug=slug), _client() as client:
        client.team_request_decide(slug, request_id, accept=False)
    out.print(f"Request #{request_id} declined.")


@teams_app.command("leave")
def teams_leave(slug: str) -> None:
    """Leave your team (only before it has entries)."""
    with _reported(slug=slug), _client() as client:
        client.team_leave(slug)
    out.print(f"You left your team in {slug}.")
