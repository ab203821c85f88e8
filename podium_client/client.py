"""The participant's client of the Podium REST API (`Authorization: Token <key>`)."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from podium_client.errors import PodiumError
from podium_client.http import Http

FINAL_STATUSES = frozenset({"scored", "failed", "cancelled"})


class PodiumClient:
    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: httpx.Timeout | float | None = None,
        retries: int = 3,
        transport: httpx.BaseTransport | None = None,
    ):
        kwargs: dict[str, Any] = {"retries": retries, "transport": transport}
        if timeout is not None:
            kwargs["timeout"] = timeout
        self.http = Http(base_url, f"Token {token}" if token else None, **kwargs)

    @property
    def base_url(self) -> str:
        return self.http.base_url

    def close(self) -> None:
        self.http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- account ----------------------------------------------------------
    def me(self) -> dict:
        return self.http.json("GET", "/api/me/")

    # --- competitions -----------------------------------------------------
    def metrics(self) -> list[dict]:
        """The metrics the server scores (built-in and plugins), with what each accepts."""
        return self.http.json("GET", "/api/metrics/")

    def _pages(self, path: str, params: dict | None = None) -> Iterator[dict]:
        """Follow DRF page-number pagination (or accept a plain list)."""
        answer = self.http.json("GET", path, params=params or {})
        while True:
            if isinstance(answer, list):
                yield from answer
                return
            yield from answer.get("results", [])
            next_url = answer.get("next")
            if not next_url:
                return
            answer = self.http.json("GET", next_url)

    def competitions(self, **filters: Any) -> list[dict]:
        return list(self._pages("/api/competitions/", {k: v for k, v in filters.items() if v is not None}))

    def competition(self, slug: str) -> dict:
        return self.http.json("GET", f"/api/competitions/{slug}/")

    def join(self, slug: str, *, accept_rules: bool) -> dict:
        """Join a competition. Joining accepts its rules, and the server wants that said:
        `accept_rules` must be True (the person read them), or the server answers 400."""
        return self.http.json(
            "POST", f"/api/competitions/{slug}/join/", json={"accept_rules": accept_rules}, idempotent=True
        )

    def dataset_files(self, slug: str) -> list[dict]:
        """The participant-facing files of the competition's dataset: [{name, size, sha256, url}]."""
        answer = self.http.json("GET", f"/api/competitions/{slug}/data/")
        files = answer.get("files", answer.get("results", [])) if isinstance(answer, dict) else answer
        return list(files)

    def download(self, slug: str, dest: str | Path, *, names: list[str] | None = None) -> list[Path]:
        """Download the dataset files into `dest` (atomically: a broken download leaves no file)."""
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        written = []
        for entry in self.dataset_files(slug):
            name = entry["name"]
            if names and name not in names:
                continue
            if "/" in name or name.startswith("."):
                raise PodiumError(f"the server named a file {name!r}; refusing to write outside {dest}")
            target = dest / name
            fd, tmp = tempfile.mkstemp(dir=dest, prefix=f".{name}.")
            try:
                with os.fdopen(fd, "wb") as out, self.http.stream(entry["url"]) as response:
                    for chunk in response.iter_bytes(1 << 20):
                        out.write(chunk)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            written.append(target)
        return written

    # --- bundles (hosts and staff) -------------------------------------------
    def bundle_export(self, slug: str, dest: str | Path) -> Path:
        """Write the competition's bundle (a zip with its hidden labels) to `dest`, atomically."""
        dest = Path(dest)
        fd, tmp = tempfile.mkstemp(dir=dest.parent if str(dest.parent) else ".", prefix=f".{dest.name}.")
        try:
            with (
                os.fdopen(fd, "wb") as out,
                self.http.stream(f"/api/competitions/{slug}/bundle/") as response,
            ):
                for chunk in response.iter_bytes(1 << 20):
                    out.write(chunk)
            os.chmod(tmp, 0o600)  # it holds the hidden labels
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return dest

    def bundle_import(self, path: str | Path, *, slug: str | None = None) -> dict:
        """Import a bundle (site staff); `slug` imports it under another slug."""
        path = Path(path)
        if not path.is_file():
            raise PodiumError(f"{path}: no such file")
        content = path.read_bytes()
        # Not idempotent: a retry after the import succeeded would answer "exists already".
        return self.http.json(
            "POST",
            "/api/competitions/import/",
            params={"slug": slug} if slug else None,
            files_factory=lambda: {"file": (path.name, content, "application/zip")},
            idempotent=False,
        )

    # --- submissions ------------------------------------------------------
    def submit(
        self,
        slug: str,
        *,
        file: str | Path | None = None,
        config: str | Path | None = None,
        description: str = "",
        phase: str | None = None,
    ) -> dict:
        """Submit a predictions CSV (`file`) or a model config (`config`, YAML or JSON), to
        `phase` (a phase's slug; none: the current phase)."""
        field, path = _entry_file(file=file, config=config)
        content = path.read_bytes()
        kind = "text/csv" if field == "file" else "application/octet-stream"

        def files() -> dict:
            return {field: (path.name, content, kind)}

        # Not idempotent: a retry after the request went out could create a second entry.
        return self.http.json(
            "POST",
            f"/api/competitions/{slug}/submissions/",
            data={"description": description, **({"phase": phase} if phase else {})},
            files_factory=files,
            idempotent=False,
        )

    def validate(
        self, slug: str, *, file: str | Path | None = None, config: str | Path | None = None
    ) -> dict:
        """Validate a predictions CSV or a model config as the intake would; nothing is stored."""
        field, path = _entry_file(file=file, config=config)
        content = path.read_bytes()
        return self.http.json(
            "POST",
            f"/api/competitions/{slug}/submissions/validate/",
            files_factory=lambda: {field: (path.name, content, "application/octet-stream")},
            idempotent=True,
        )

    def submit_bytes(
        self, slug: str, *, csv: bytes, description: str = "", name: str = "predictions.csv"
    ) -> dict:
        return self.http.json(
            "POST",
            f"/api/competitions/{slug}/submissions/",
            data={"description": description},
            files_factory=lambda: {"file": (name, csv, "text/csv")},
            idempotent=False,
        )

    def submissions(self, slug: str, **filters: Any) -> list[dict]:
        return list(
            self._pages(
                f"/api/competitions/{slug}/submissions/", {k: v for k, v in filters.items() if v is not None}
            )
        )

    def submission(self, submission_id: int) -> dict:
        return self.http.json("GET", f"/api/submissions/{int(submission_id)}/")

    def final_pick_toggle(self, submission_id: int) -> dict:
        """Choose an entry as a final pick, or unchoose it: `{submission_id, is_final_pick}`."""
        return self.http.json("POST", f"/api/submissions/{int(submission_id)}/final-pick/", idempotent=False)

    def cancel(self, submission_id: int) -> dict:
        return self.http.json("POST", f"/api/submissions/{int(submission_id)}/cancel/", idempotent=True)

    def wait(
        self,
        submission_id: int,
        *,
        timeout: float = 600.0,
        interval: float = 0.5,
        on_update: Callable[[dict], None] | None = None,
    ) -> dict:
        """Poll until the entry is scored, failed or cancelled; return its last state."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            state = self.submission(submission_id)
            if on_update is not None and state != last:
                on_update(state)
            last = state
            if state.get("status") in FINAL_STATUSES:
                return state
            if time.monotonic() > deadline:
                raise PodiumError(
                    f"submission {submission_id} is still {state.get('status')!r} after {timeout:.0f} s"
                )
            time.sleep(interval)

    # --- ablations (the techniques lab) -----------------------------------
    def ablation_options(self, submission_id: int) -> dict:
        """What an ablation of the entry can change (each variant's key, technique and
        change) and the compute quota left today."""
        return self.http.json("GET", f"/api/submissions/{int(submission_id)}/ablations/options/")

    def ablation_start(self, submission_id: int, variants: list[str]) -> dict:
        """Start an ablation of the entry with the variants of these keys."""
        # Not idempotent: a retry after the request went out could start a second ablation.
        return self.http.json(
            "POST",
            f"/api/submissions/{int(submission_id)}/ablations/",
            json={"variants": list(variants)},
            idempotent=False,
        )

    def ablations(self, submission_id: int) -> list[dict]:
        """Your ablations of the entry, newest first."""
        return list(self._pages(f"/api/submissions/{int(submission_id)}/ablations/"))

    def ablation(self, ablation_id: int) -> dict:
        """An ablation: its table's rows and each variant's curves."""
        return self.http.json("GET", f"/api/ablations/{int(ablation_id)}/")

    def ablation_cancel(self, ablation_id: int) -> dict:
        return self.http.json("POST", f"/api/ablations/{int(ablation_id)}/cancel/", idempotent=True)

    # --- leaderboards -----------------------------------------------------
    def leaderboard(
        self,
        slug: str,
        *,
        board: str = "public",
        page: int | None = None,
        phase: str | None = None,
        late: bool = False,
    ) -> dict:
        """A board page: `phase` (a slug; none: the current phase), `late`: its late board."""
        params: dict[str, Any] = {"board": board}
        if page is not None:
            params["page"] = page
        if phase:
            params["phase"] = phase
        if late:
            params["late"] = "true"
        return self.http.json("GET", f"/api/competitions/{slug}/leaderboard/", params=params)

    def phases(self, slug: str) -> list[dict]:
        return self.http.json("GET", f"/api/competitions/{slug}/phases/")

    def leaderboard_csv(
        self,
        slug: str,
        dest: str | Path,
        *,
        board: str = "public",
        phase: str | None = None,
        late: bool = False,
    ) -> Path:
        """Write the whole board (a phase's, or its late board) as CSV to `dest` (atomically)."""
        dest = Path(dest)
        query = f"board={board}" + (f"&phase={phase}" if phase else "") + ("&late=true" if late else "")
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
        try:
            with (
                os.fdopen(fd, "wb") as out,
                self.http.stream(f"/api/competitions/{slug}/leaderboard.csv?{query}") as response,
            ):
                for chunk in response.iter_bytes(1 << 20):
                    out.write(chunk)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return dest

    # --- teams --------------------------------------------------------------
    def teams(self, slug: str) -> list[dict]:
        return list(self._pages(f"/api/competitions/{slug}/teams/"))

    def team_mine(self, slug: str) -> dict:
        return self.http.json("GET", f"/api/competitions/{slug}/teams/mine/")

    def team_create(self, slug: str, name: str) -> dict:
        return self.http.json(
            "POST", f"/api/competitions/{slug}/teams/", json={"name": name}, idempotent=False
        )

    def team_join(self, slug: str, code: str) -> dict:
        return self.http.json(
            "POST", f"/api/competitions/{slug}/teams/join/", json={"code": code}, idempotent=False
        )

    def team_requests(self, slug: str) -> list[dict]:
        return self.http.json("GET", f"/api/competitions/{slug}/teams/requests/")["results"]

    def team_request_decide(self, slug: str, request_id: int, *, accept: bool) -> dict:
        if accept:
            path = f"/api/competitions/{slug}/teams/requests/{request_id}/accept/"
        else:
            path = f"/api/competitions/{slug}/teams/requests/{request_id}/decline/"
        return self.http.json("POST", path, idempotent=False)

    def team_leave(self, slug: str) -> dict:
        return self.http.json("POST", f"/api/competitions/{slug}/teams/leave/", idempotent=False)


def _entry_file(*, file: str | Path | None, config: str | Path | None) -> tuple[str, Path]:
    """The form field and the path of an entry: a predictions file or a model config, not both."""
    if (file is None) == (config is None):
        raise PodiumError("give exactly one of a predictions file or a model config")
    field, path = ("file", Path(file)) if file is not None else ("config", Path(config))
    if not path.is_file():
        raise PodiumError(f"{path}: no such file")
    return field, path
