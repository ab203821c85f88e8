"""Request bodies sent without a Content-Length (`Transfer-Encoding: chunked`), made readable.

Django's WSGIRequest reads exactly CONTENT_LENGTH bytes, and a chunked body has none: it
would be taken for an empty one (an upload answered "send a file"). Gunicorn decodes the
chunks and marks the input as ending by itself (`wsgi.input_terminated`, the WSGI
extension for this); this wrapper then reads the body, up to
PODIUM_MAX_CHUNKED_BODY_BYTES, into a spooled file (memory up to
FILE_UPLOAD_MAX_MEMORY_SIZE, then FILE_UPLOAD_TEMP_DIR, as Django's own ASGI handler
does) and hands Django the body with its length, so every cap downstream applies as to
any other body. Past the bound it answers 413 without reading further. A server that
does not decode chunks (Django's runserver) gets 411: the body cannot be read there.
"""

from __future__ import annotations

import json
import tempfile

from django.conf import settings

CHUNK = 64 * 1024


class ChunkedBodies:
    """WSGI middleware around Django's application."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if environ.get("CONTENT_LENGTH") or not chunked:
            return self.app(environ, start_response)
        if not environ.get("wsgi.input_terminated"):
            return _refuse(
                environ,
                start_response,
                "411 Length Required",
                "This server cannot read a chunked request body; send it with a Content-Length.",
            )
        limit = settings.PODIUM_MAX_CHUNKED_BODY_BYTES
        body = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - closed with the response
            max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE, dir=settings.FILE_UPLOAD_TEMP_DIR
        )
        size = 0
        while chunk := environ["wsgi.input"].read(CHUNK):
            size += len(chunk)
            if size > limit:
                body.close()
                return _refuse(
                    environ,
                    start_response,
                    "413 Request Entity Too Large",
                    f"The request body is larger than the limit of {limit:,} bytes; nothing was stored.",
                    limit=limit,
                )
            body.write(chunk)
        body.seek(0)
        inner = {key: value for key, value in environ.items() if key != "HTTP_TRANSFER_ENCODING"}
        inner.update({"CONTENT_LENGTH": str(size), "wsgi.input": body})
        return _ClosingWith(self.app(inner, start_response), body)


class _ClosingWith:
    """The application's response, closing the spooled body when the server closes it."""

    def __init__(self, response, body):
        self.response = response
        self.body = body

    def __iter__(self):
        return iter(self.response)

    def close(self):
        try:
            if hasattr(self.response, "close"):
                self.response.close()
        finally:
            self.body.close()


def _refuse(environ, start_response, status: str, detail: str, **extra) -> list[bytes]:
    # Before Django: the API's error shape for API clients, plain text for the rest.
    if environ.get("PATH_INFO", "").startswith("/api/"):
        payload, content_type = json.dumps({"detail": detail, **extra}).encode(), "application/json"
    else:
        payload, content_type = detail.encode(), "text/plain; charset=utf-8"
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(payload)))])
    return [payload]
