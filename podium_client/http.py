"""One HTTP session with retries: the base of the participant and the worker clients.

Retries cover the network, not the server's decisions: a connection that could
not be opened is always retried; a timeout, a dropped connection or a 502/503/504
only for requests that are safe to repeat (GETs and the idempotent worker
callbacks). A 4xx answer is never retried: it becomes an `ApiError`.
"""

from __future__ import annotations

import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from podium_client.errors import ConnectionFailed, error_from_response

log = logging.getLogger(__name__)

RETRY_STATUSES = {502, 503, 504}
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)

_tls_context: ssl.SSLContext | None = None
_tls_lock = threading.Lock()


def shared_tls_context() -> ssl.SSLContext:
    """The process's TLS context for every client (httpx's default: the CA bundle, or
    SSL_CERT_FILE / SSL_CERT_DIR). Building one reads the whole CA bundle, about 20 ms of
    CPU, and a trainer opens several clients per entry (claim, heartbeat): a burst of
    entries spent a second of the device thread's CPU on it."""
    global _tls_context
    with _tls_lock:
        if _tls_context is None:
            _tls_context = httpx.create_ssl_context()
        return _tls_context


class Http:
    def __init__(
        self,
        base_url: str,
        authorization: str | None,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        user_agent: str = "podium-client",
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base URL {base_url!r} must start with http:// or https://")
        self.base_url = base_url.rstrip("/")
        headers = {"User-Agent": user_agent, "Accept": "application/json"}
        if authorization:
            headers["Authorization"] = authorization
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep
        self._client = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=timeout,
            transport=transport,
            verify=shared_tls_context(),
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.base_url + path

    def _delay(self, try_number: int) -> float:
        base = min(self.max_backoff, self.backoff * (2**try_number))
        return base * (0.5 + random.random() / 2)  # jitter: a fleet of workers does not retry in step

    def request(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool | None = None,
        ok: tuple[int, ...] = (200, 201, 202, 204),
        files_factory: Callable[[], dict] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send and return the answer; raise `ApiError` for an error answer.

        `files_factory` builds the multipart files anew on each try (a file
        object read by a failed try is spent).
        """
        if idempotent is None:
            idempotent = method.upper() in ("GET", "HEAD", "OPTIONS", "PUT", "DELETE")
        url = self.url(path)
        last_error: Exception | None = None
        for try_number in range(self.retries + 1):
            if files_factory is not None:
                kwargs["files"] = files_factory()
            try:
                response = self._client.request(method, url, **kwargs)
            except httpx.ConnectError as exc:  # nothing was sent: always safe to try again
                last_error = exc
            except httpx.TransportError as exc:
                if not idempotent:
                    raise ConnectionFailed(
                        f"{method} {url}: the connection failed after the request was sent ({exc}); "
                        "check its state before repeating it",
                        reason=f"the connection failed after the request was sent ({exc}); "
                        "check the entry's state before repeating it",
                    ) from exc
                last_error = exc
            else:
                if response.status_code in ok:
                    return response
                if response.status_code in RETRY_STATUSES and idempotent and try_number < self.retries:
                    last_error = None
                    log.warning("%s %s: HTTP %s, retrying", method, url, response.status_code)
                    self._sleep(self._delay(try_number))
                    continue
                raise error_from_response(response.status_code, _body(response), method=method, url=url)
            if try_number < self.retries:
                log.warning("%s %s: %s, retrying", method, url, last_error)
                self._sleep(self._delay(try_number))
        raise ConnectionFailed(
            f"{method} {url}: could not reach the server after {self.retries + 1} tries ({last_error})",
            reason=f"could not reach {self.base_url} ({last_error or 'no answer'})",
        )

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ConnectionFailed(
                f"{method} {self.url(path)}: the answer is not JSON",
                reason=f"{self.base_url} did not answer as a Podium site does (not JSON); check the URL",
            ) from None

    @contextmanager
    def stream(self, path: str) -> Iterator[httpx.Response]:
        """GET a (large) file as a stream. Failures before the body starts are retried here;
        a failure while reading raises `ConnectionFailed` and the caller starts over."""
        url = self.url(path)
        last_error: Exception | None = None
        for try_number in range(self.retries + 1):
            try:
                with self._client.stream("GET", url) as response:
                    if response.status_code == 200:
                        try:
                            yield response
                        except httpx.TransportError as exc:
                            raise ConnectionFailed(
                                f"GET {url}: the download broke off ({exc})",
                                reason=f"the download broke off ({exc}); try again",
                            ) from exc
                        return
                    response.read()
                    if response.status_code not in RETRY_STATUSES or try_number == self.retries:
                        raise error_from_response(
                            response.status_code, _body(response), method="GET", url=url
                        )
            except httpx.TransportError as exc:
                last_error = exc
            if try_number < self.retries:
                self._sleep(self._delay(try_number))
        raise ConnectionFailed(
            f"GET {url}: could not download after {self.retries + 1} tries ({last_error})",
            reason=f"could not reach {self.base_url} ({last_error or 'no answer'})",
        )


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text
