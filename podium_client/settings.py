"""Where the CLI keeps the site URL and the API token.

PODIUM_URL and PODIUM_TOKEN override the saved file; the file lives in
PODIUM_CONFIG_DIR (default ~/.config/podium) and is readable by its owner only.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class Credentials:
    url: str
    token: str | None


def config_dir() -> Path:
    return Path(os.environ.get("PODIUM_CONFIG_DIR") or Path.home() / ".config" / "podium")


def credentials_path() -> Path:
    return config_dir() / "credentials.json"


def load() -> Credentials:
    saved: dict = {}
    path = credentials_path()
    if path.is_file():
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            saved = {}
    return Credentials(
        url=os.environ.get("PODIUM_URL") or saved.get("url") or DEFAULT_URL,
        token=os.environ.get("PODIUM_TOKEN") or saved.get("token"),
    )


def save(credentials: Credentials) -> Path:
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".credentials.")
    try:
        os.fchmod(fd, 0o600)  # the token is a password: never world-readable, not even briefly
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"url": credentials.url, "token": credentials.token}, handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
