"""A real SMTP server for tests (aiosmtpd, on a free port of this machine): what Podium sends
arrives here over SMTP, and tests read the messages as a mail client would."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from email.message import EmailMessage

from aiosmtpd.controller import Controller


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Inbox:
    def __init__(self):
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)
        return "250 OK"


class SmtpServer:
    def __init__(self):
        self._inbox = _Inbox()
        self._port = _free_port()
        self._controller = Controller(self._inbox, hostname="127.0.0.1", port=self._port)

    def start(self) -> SmtpServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def messages(self) -> list[EmailMessage]:
        with self._inbox._lock:
            return list(self._inbox.messages)

    def clear(self) -> None:
        with self._inbox._lock:
            self._inbox.messages.clear()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.messages) >= count:
                return self.messages
            time.sleep(0.1)
        raise TimeoutError(
            f"{len(self.messages)} of {count} mails arrived in {timeout:.0f} s: {self.messages}"
        )


def body_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()
