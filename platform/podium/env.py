"""DATABASE_URL as a Django DATABASES entry: the one environment reader only the web tier needs.

The typed readers every process uses (env_str, env_int, …) live in common.env.
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlparse

from common.env import EnvError


def database_from_url(url: str) -> dict:
    """Turn postgres://user:pw@host:port/name or sqlite:///path into a DATABASES entry."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = unquote(parsed.path)
        if path.startswith("//"):
            path = path[1:]
        elif path.startswith("/") and not url.startswith("sqlite:////"):
            path = path[1:]
        if not path:
            raise EnvError(f"DATABASE_URL={url!r} names no SQLite file")
        # Several processes (web, scorer, beat) share the file: WAL lets readers run beside
        # the writer, and IMMEDIATE transactions take the write lock up front instead of
        # failing with "database is locked" when a read turns into a write.
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": path,
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    if parsed.scheme in {"postgres", "postgresql", "pgsql"}:
        name = parsed.path.lstrip("/")
        if not name:
            raise EnvError(f"DATABASE_URL={url!r} names no database")
        options = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(name),
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname or "",
            "PORT": str(parsed.port or ""),
            "OPTIONS": options,
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
        }
    raise EnvError(
        f"DATABASE_URL={url!r}: unsupported scheme {parsed.scheme!r} (use postgres:// or sqlite:///)"
    )
