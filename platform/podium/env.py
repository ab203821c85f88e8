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


EMAIL_SCHEMES = ("console", "smtp", "smtp+tls", "smtps")


def email_from_url(url: str) -> dict:
    """PODIUM_EMAIL_URL as Django's EMAIL_* settings: console:// (the mails on the process's
    output), smtp://user:pw@host:port, smtp+tls://… (STARTTLS) or smtps://… (TLS from the start)."""
    parsed = urlparse(url)
    if parsed.scheme not in EMAIL_SCHEMES:
        raise EnvError(
            f"PODIUM_EMAIL_URL={url!r}: unsupported scheme {parsed.scheme!r} (use one of {', '.join(EMAIL_SCHEMES)})"
        )
    if parsed.scheme == "console":
        return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    if not parsed.hostname:
        raise EnvError(f"PODIUM_EMAIL_URL={url!r} names no SMTP host")
    try:
        port = parsed.port
    except ValueError:
        raise EnvError(f"PODIUM_EMAIL_URL={url!r}: the port is not a number") from None
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": parsed.hostname,
        "EMAIL_PORT": port or {"smtp": 25, "smtp+tls": 587, "smtps": 465}[parsed.scheme],
        "EMAIL_HOST_USER": unquote(parsed.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parsed.password or ""),
        "EMAIL_USE_TLS": parsed.scheme == "smtp+tls",
        "EMAIL_USE_SSL": parsed.scheme == "smtps",
        "EMAIL_TIMEOUT": 10,
    }
