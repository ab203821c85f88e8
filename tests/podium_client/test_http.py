"""The client's HTTP layer against a real (tiny) HTTP server on a free port: what is
retried, what is not, and how an API's error answers read in a terminal."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from podium_client.errors import (
    ApiError,
    AuthError,
    Conflict,
    ConnectionFailed,
    RateLimited,
    ValidationFailed,
)
from podium_client.http import Http
from podium_client.worker import WorkerClient


class Scripted(ThreadingHTTPServer):
    """Answers requests from a script of (status, body) in order; records what it got."""

    daemon_threads = True

    def __init__(self, script):
        super().__init__(("127.0.0.1", 0), Handler)
        self.script = list(script)
        self.seen: list[tuple[str, str, dict, bytes]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append((self.command, self.path, dict(self.headers), body))
        status, payload = (
            self.server.script.pop(0) if self.server.script else (500, {"detail": "script ran out"})
        )
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header(
            "Content-Type", "application/json" if not isinstance(payload, bytes) else "text/html"
        )
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer


@pytest.fixture
def serve():
    servers = []

    def start(*script):
        server = Scripted(script)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _http(url, **kw):
    return Http(url, "Token abc", sleep=lambda s: None, **kw)


def test_gets_are_retried_through_a_502_and_send_the_token(serve):
    server = serve((502, {"detail": "bad gateway"}), (503, {}), (200, {"ok": True}))
    assert _http(server.url).json("GET", "/api/x/") == {"ok": True}
    assert len(server.seen) == 3
    assert server.seen[0][2]["Authorization"] == "Token abc"


def test_a_non_idempotent_post_is_not_repeated_after_a_503(serve):
    server = serve((503, {"detail": "overloaded"}), (201, {"id": 1}))
    with pytest.raises(ApiError, match=r"POST .*/api/x/: overloaded \(HTTP 503\)"):
        _http(server.url).json("POST", "/api/x/", json={}, idempotent=False)
    assert len(server.seen) == 1


def test_an_unreachable_server_is_retried_then_reported():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(ConnectionFailed, match=r"could not reach the server after 3 tries"):
        _http(f"http://127.0.0.1:{port}", retries=2).json("GET", "/api/x/")


def test_validation_problems_are_listed_one_per_line(serve):
    body = {
        "detail": "The predictions file has 2 problems; nothing was stored.",
        "problems": [
            {"row": 3, "column": "target", "message": "'rose' is not one of the classes"},
            {"path": "model.layers[0].conv2d", "message": "needs image input"},
        ],
    }
    server = serve((400, body))
    with pytest.raises(ValidationFailed) as info:
        _http(server.url).json("POST", "/api/competitions/iris/submissions/", idempotent=False)
    text = str(info.value)
    assert "The predictions file has 2 problems; nothing was stored. (HTTP 400)" in text
    assert "  - row 3, column target: 'rose' is not one of the classes" in text
    assert "  - model.layers[0].conv2d: needs image input" in text
    assert info.value.problems == [
        "row 3, column target: 'rose' is not one of the classes",
        "model.layers[0].conv2d: needs image input",
    ]


def test_drf_field_errors_name_the_field(serve):
    server = serve((400, {"description": ["Ensure this field has no more than 500 characters."]}))
    with pytest.raises(ValidationFailed) as info:
        _http(server.url).json("POST", "/api/x/", idempotent=False)
    assert info.value.problems == ["description: Ensure this field has no more than 500 characters."]


def test_a_limit_answer_carries_its_reset_time(serve):
    server = serve(
        (
            429,
            {
                "detail": "Daily submission limit reached",
                "resets_at": "2026-11-27T00:00:00Z",
                "limit": "daily",
                "allowed": 5,
                "used": 5,
            },
        )
    )
    with pytest.raises(RateLimited) as info:
        _http(server.url).json("POST", "/api/x/", idempotent=False)
    assert info.value.reset_at == "2026-11-27T00:00:00Z"
    assert info.value.problems == []  # the numbers are facts, not problems


def test_an_html_error_page_does_not_flood_the_terminal(serve):
    server = serve((403, b"<html><body>CSRF verification failed</body></html>"))
    with pytest.raises(AuthError, match=r"^GET http://127.0.0.1:\d+/api/x/: HTTP 403 \(HTTP 403\)$"):
        _http(server.url).json("GET", "/api/x/")


def test_worker_heartbeat_reads_409_as_stop_and_claim_raises_conflict(serve):
    server = serve(
        (200, {"continue": True}),
        (409, {"continue": False, "detail": "Submission #7 was cancelled."}),
        (409, {"detail": "Attempt 1 of submission #7 is no longer current (now 2)."}),
    )
    client = WorkerClient(server.url, 7, "signed-token", retries=0)
    assert client.heartbeat(1) is True
    assert client.heartbeat(1) is False
    with pytest.raises(Conflict, match="no longer current"):
        client.claim(1)
    method, path, headers, body = server.seen[0]
    assert (method, path) == ("POST", "/api/worker/submissions/7/heartbeat/")
    assert headers["Authorization"] == "Worker signed-token"
    assert json.loads(body) == {"attempt": 1}


def test_worker_callbacks_are_retried_because_they_are_idempotent(serve):
    server = serve((503, {}), (502, {}), (200, {"ok": True}))
    client = WorkerClient(server.url, 7, "t", retries=3)
    client.http._sleep = lambda s: None
    client.epoch(1, 3, {"train_loss": 0.5})
    assert len(server.seen) == 3
    assert all(
        json.loads(s[3]) == {"attempt": 1, "epoch": 3, "data": {"train_loss": 0.5}} for s in server.seen
    )


def test_prediction_upload_is_multipart_with_the_attempt_and_weights(serve):
    server = serve((503, {}), (202, {"ok": True}))
    client = WorkerClient(server.url, 7, "t", retries=2)
    client.http._sleep = lambda s: None
    client.predictions(2, b"id,target\n1,a\n", weights=b"\x00safetensors")
    assert len(server.seen) == 2  # the retried upload sent the whole body again
    body = server.seen[1][3]
    assert b'name="attempt"\r\n\r\n2' in body
    assert b"id,target\n1,a\n" in body and b"\x00safetensors" in body


def test_base_url_must_be_http():
    with pytest.raises(ValueError, match="must start with http:// or https://"):
        Http("127.0.0.1:8000", None)


def test_clients_share_one_tls_context_that_verifies_certificates(monkeypatch):
    """A trainer opens clients per entry (claim, heartbeat): the CA bundle is read once per
    process, not once per client, and the shared context still checks certificates."""
    import ssl

    import httpx

    from podium_client import http

    built = []
    real = httpx.create_ssl_context
    monkeypatch.setattr(http, "_tls_context", None)
    monkeypatch.setattr(httpx, "create_ssl_context", lambda *a, **k: built.append(1) or real(*a, **k))
    clients = [Http("https://podium.example", None) for _ in range(5)]
    for client in clients:
        client.close()
    assert len(built) == 1
    context = http.shared_tls_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
