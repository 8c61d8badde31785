"""A local SMTP server (aiosmtpd) that keeps every message: the development and test mail server."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Keeper:
    def __init__(self, folder: Path | None, pipelining: bool, refuse: frozenset[str]) -> None:
        self.folder = folder
        self.pipelining = pipelining
        self.refuse = refuse
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname  # what aiosmtpd does without this hook
        if self.pipelining:  # before the last line ("250 HELP"), which ends the answer
            return [*responses[:-1], "250-PIPELINING", responses[-1]]
        return responses

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if address.lower() in self.refuse:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
            if self.folder is not None:
                self.folder.mkdir(parents=True, exist_ok=True)
                (self.folder / f"{len(self.messages):06d}.eml").write_bytes(envelope.content)
        return "250 Message accepted for delivery"


class MailSink:
    """Runs an SMTP server on 127.0.0.1 in a background thread; messages are kept in memory (and in `folder`).

    `pipelining` offers RFC 2920 command pipelining in the EHLO answer, as most production mail servers do (aiosmtpd
    reads commands line by line, so it takes them pipelined; it does not announce it by itself). `refuse` is a set
    of recipient addresses whose RCPT is answered 550, for tests of refused mail.
    """

    def __init__(
        self, port: int | None = None, folder: Path | None = None, *, pipelining: bool = False,
        refuse: Iterable[str] = (),
    ) -> None:  # fmt: skip
        self.port = port or free_port()
        self._keeper = _Keeper(folder, pipelining, frozenset(a.lower() for a in refuse))
        self._controller = Controller(self._keeper, hostname="127.0.0.1", port=self.port)

    @property
    def messages(self) -> list[EmailMessage]:
        with self._keeper.lock:
            return list(self._keeper.messages)

    def start(self) -> MailSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()
