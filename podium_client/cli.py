"""The `podium` command line: compete from a terminal.

    podium login                     save the site URL and an API token (create one on the site)
    podium competitions              list competitions
    podium download SLUG             download a competition's data files
    podium submit SLUG FILE          submit a predictions CSV
    podium submit SLUG --config X    submit a model config (YAML or JSON)
    podium status ID [--watch]       an entry's state, epochs and scores
    podium leaderboard SLUG          the public board (--phase P, --late: a phase's, its late board)
    podium phases SLUG               a competition's phases: windows, which is current

PODIUM_URL and PODIUM_TOKEN override the saved login.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from podium_client import settings as saved
from podium_client.client import FINAL_STATUSES, PodiumClient
from podium_client.errors import ApiError, PodiumError, RateLimited

app = typer.Typer(
    name="podium",
    help="Podium: compete from the command line.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

STATUS_STYLE = {
    "created": "dim",
    "queued": "yellow",
    "running": "cyan",
    "scoring": "blue",
    "scored": "green",
    "failed": "red",
    "cancelled": "magenta",
}


def _client(*, need_token: bool = True) -> PodiumClient:
    creds = saved.load()
    if need_token and not creds.token:
        raise PodiumError("not logged in: run `podium login` (or set PODIUM_TOKEN)")
    return PodiumClient(creds.url, creds.token)


def _fail(exc: PodiumError) -> typer.Exit:
    err.print(Text("error: ", style="bold red") + Text(str(exc)))
    if isinstance(exc, RateLimited) and exc.reset_at:
        err.print(f"the daily limit resets at {exc.reset_at}")
    return typer.Exit(1)


def _score(value) -> str:
    return "—" if value is None else f"{value:.5f}"


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
    try:
        with PodiumClient(url, token) as client:
            me = client.me()
    except PodiumError as exc:
        raise _fail(exc) from None
    path = saved.save(saved.Credentials(url=url, token=token))
    out.print(f"Logged in to {url} as [bold]{me.get('username', '?')}[/bold]; saved in {path}")


@app.command()
def competitions(
    status: Annotated[str | None, typer.Option(help="open, upcoming or past")] = None,
) -> None:
    """List competitions."""
    try:
        with _client(need_token=False) as client:
            rows = client.competitions(status=status)
    except PodiumError as exc:
        raise _fail(exc) from None
    table = Table(title="Competitions")
    for column in ("slug", "title", "metric", "ends", "kinds"):
        table.add_column(column)
    for c in rows:
        kinds = c.get("accepted_kinds") or [
            k
            for k, flag in (
                ("predictions", c.get("accepts_predictions")),
                ("config", c.get("accepts_configs")),
            )
            if flag
        ]
        table.add_row(
            str(c.get("slug")),
            str(c.get("title", "")),
            str(c.get("metric", "")),
            str(c.get("ends_at", ""))[:16],
            ", ".join(kinds),
        )
    out.print(table)


@app.command()
def download(
    slug: str,
    dest: Annotated[Path | None, typer.Option("--dest", "-d", help="Folder (default: ./SLUG)")] = None,
) -> None:
    """Download a competition's data files (train.csv, test.csv, sample_submission.csv)."""
    dest = dest or Path(slug)
    try:
        with _client(need_token=False) as client:
            paths = client.download(slug, dest)
    except PodiumError as exc:
        raise _fail(exc) from None
    for path in paths:
        out.print(f"{path}  ({path.stat().st_size:,} bytes)")


@app.command()
def submit(
    slug: str,
    file: Annotated[Path | None, typer.Argument(help="A predictions CSV")] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="A model config, YAML or JSON")
    ] = None,
    description: Annotated[str, typer.Option("--description", "-m")] = "",
    wait: Annotated[bool, typer.Option("--wait", "-w", help="Watch it until it is scored")] = False,
    phase: Annotated[
        str | None, typer.Option("--phase", "-p", help="A phase's slug (default: the current phase)")
    ] = None,
) -> None:
    """Submit a predictions CSV or a model config (to the current phase unless --phase names one)."""
    if (file is None) == (config is None):
        err.print("error: give either a predictions FILE or --config CONFIG")
        raise typer.Exit(2)
    try:
        with _client() as client:
            entry = client.submit(slug, file=file, config=config, description=description, phase=phase)
            daily = (entry.get("limits") or {}).get("daily") or {}
            out.print(
                f"Submitted entry [bold]#{entry['id']}[/bold] ({entry.get('kind')}): {entry.get('status')}"
                + (f"; {daily['remaining']} left today (resets {daily.get('resets_at')})" if daily else "")
            )
            if wait:
                _watch(client, int(entry["id"]))
    except PodiumError as exc:
        raise _fail(exc) from None


def _status_view(entry: dict) -> Group:
    status = entry.get("status", "?")
    head = Table.grid(padding=(0, 2))
    head.add_row("entry", f"#{entry.get('id')} ({entry.get('kind')}) in {entry.get('competition')}")
    head.add_row("status", Text(status, style=STATUS_STYLE.get(status, "")))
    head.add_row("attempt", str(entry.get("attempt")))
    head.add_row("public score", _score(entry.get("public_score")))
    if entry.get("private_score") is not None:
        head.add_row("private score", _score(entry.get("private_score")))
    if entry.get("error_message"):
        head.add_row("reason", Text(entry["error_message"], style="red"))
    parts: list = [head]
    epochs = entry.get("epochs") or []
    if epochs:
        table = Table(title="epochs", title_justify="left")
        for column in ("epoch", "train loss", "val loss", "val metric", "lr", "seconds"):
            table.add_column(column, justify="right")
        for e in epochs[-15:]:
            metric = e.get("val_metric") or {}
            value = metric.get("value") if isinstance(metric, dict) else metric
            table.add_row(
                str(e.get("epoch")),
                _num(e.get("train_loss")),
                _num(e.get("val_loss")),
                _num(value),
                _num(e.get("lr"), ".2e"),
                _num(e.get("seconds"), ".2f"),
            )
        parts.append(table)
    return Group(*parts)


def _num(value, fmt: str = ".4f") -> str:
    return "—" if value is None else format(value, fmt)


def _watch(client: PodiumClient, submission_id: int, interval: float = 1.0, timeout: float = 3600) -> dict:
    entry = client.submission(submission_id)
    deadline = time.monotonic() + timeout
    with Live(_status_view(entry), console=out, refresh_per_second=4, transient=False) as live:
        while entry.get("status") not in FINAL_STATUSES and time.monotonic() < deadline:
            time.sleep(interval)
            entry = client.submission(submission_id)
            live.update(_status_view(entry))
    return entry


@app.command()
def status(
    submission_id: Annotated[int, typer.Argument(metavar="ID")],
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Follow it until it is final")] = False,
) -> None:
    """Show an entry: status, epochs, scores, and the reason when it failed."""
    try:
        with _client() as client:
            entry = _watch(client, submission_id) if watch else client.submission(submission_id)
            if not watch:
                out.print(_status_view(entry))
    except PodiumError as exc:
        raise _fail(exc) from None
    if entry.get("status") == "failed":
        raise typer.Exit(3)


@app.command()
def cancel(submission_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Cancel an entry that is not final yet."""
    try:
        with _client() as client:
            entry = client.cancel(submission_id)
    except PodiumError as exc:
        raise _fail(exc) from None
    out.print(f"entry #{entry['id']}: {entry['status']}")


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
) -> None:
    """Show a competition's board (a phase's, or its late board)."""
    board = "private" if private else "public"
    try:
        with _client(need_token=False) as client:
            answer = client.leaderboard(slug, board=board, page=page, phase=phase, late=late)
    except ApiError as exc:
        raise _fail(exc) from None
    except PodiumError as exc:
        raise _fail(exc) from None
    rows = answer.get("results", answer.get("rows", [])) if isinstance(answer, dict) else answer
    # The ranking metric heads the score column; the competition's other metrics follow it.
    extra = [m["name"] for m in answer.get("extra_metrics", [])] if isinstance(answer, dict) else []
    metric = answer.get("metric", "score") if isinstance(answer, dict) else "score"
    shown = (answer.get("phase") or {}).get("slug") if isinstance(answer, dict) else None
    where = f"{slug}/{shown}" if shown and shown != "main" else slug
    table = Table(title=f"{where}: {board} {'late ' if late else ''}leaderboard")
    table.add_column("rank", justify="right")
    table.add_column("participant")
    table.add_column(metric, justify="right")
    for name in extra:
        table.add_column(name, justify="right")
    table.add_column("entries", justify="right")
    table.add_column("last")
    for row in rows:
        others = row.get("extra_scores") or {}
        table.add_row(
            str(row.get("rank", "")),
            str(row.get("entrant") or row.get("name") or row.get("user") or ""),
            _score(row.get("score")),
            *(_score(others.get(name)) for name in extra),
            str(row.get("entry_count", "")),
            str(row.get("last_submitted_at") or "")[:16],
        )
    out.print(table)


@app.command()
def phases(slug: str) -> None:
    """Show a competition's phases: windows, limits, which one is current."""
    try:
        with _client(need_token=False) as client:
            listed = client.phases(slug)
    except PodiumError as exc:
        raise _fail(exc) from None
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


@app.command("export-bundle")
def export_bundle(
    slug: str,
    dest: Annotated[
        Path | None, typer.Option("--dest", "-d", help="The zip (default: ./SLUG-bundle.zip)")
    ] = None,
) -> None:
    """Export a competition you host as one zip (its hidden labels included: keep it private)."""
    dest = dest or Path(f"{slug}-bundle.zip")
    try:
        with _client() as client:
            path = client.bundle_export(slug, dest)
    except PodiumError as exc:
        raise _fail(exc) from None
    out.print(f"{path}  ({path.stat().st_size:,} bytes)")


@app.command("import-bundle")
def import_bundle(
    file: Annotated[Path, typer.Argument(help="A bundle exported by export-bundle")],
    slug: Annotated[str | None, typer.Option("--slug", help="Import under this slug instead")] = None,
) -> None:
    """Import a competition bundle on this server (site staff); every problem of a bad one is listed."""
    try:
        with _client() as client:
            created = client.bundle_import(file, slug=slug)
    except PodiumError as exc:
        raise _fail(exc) from None
    out.print(f"Imported [bold]{created['slug']}[/bold]: {created.get('title', '')}")
