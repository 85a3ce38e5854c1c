"""A TCP proxy on 127.0.0.1 that a test can cut and restore.

It runs its own event loop in a thread, so it keeps forwarding while the test
blocks (in ``time.sleep``, a subprocess call or a synchronous HTTP request).

- ``cut()``: every open connection is reset and new ones are refused, as when
  a server restarts or a firewall rejects the link.
- ``hold()``: connections stay open but nothing gets through either way, and
  new ones are accepted but get nothing either, as when a network drops
  packets silently.
- ``restore()``: new connections are forwarded again. Connections cut before
  stay dead, and so, by default, do held ones (they are reset); with
  ``drop_held=False`` held connections stay silent forever, as those of a
  server that moved to another address would.
"""

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

_CHUNK = 65536


@dataclass(eq=False)
class _Link:
    """One client connection and, once made, its connection to the target."""

    client: asyncio.StreamWriter
    target: asyncio.StreamWriter | None = None
    flowing: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: bool = False

    def reset(self) -> None:
        self.dropped = True
        self.flowing.set()  # wakes whatever waits on it, to find it dropped
        for writer in (self.client, self.target):
            if writer is not None:
                _reset(writer)


class Proxy:
    """Forwards 127.0.0.1:``port`` to ``target_host``:``target_port``."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = _free_port()
        self.state = "open"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"proxy-{self.port}", daemon=True
        )
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()

    @classmethod
    def to_url(cls, url: str) -> "Proxy":
        """A proxy to the host and port of a URL (``redis://``, ``postgresql://``)."""
        parts = urlsplit(url)
        return cls(parts.hostname or "127.0.0.1", parts.port or _default_port(url))

    def url(self, url: str) -> str:
        """The same URL, pointing at this proxy."""
        parts = urlsplit(url)
        user = parts.netloc.rpartition("@")[0]
        netloc = f"{user}@" if user else ""
        return urlunsplit(parts._replace(netloc=f"{netloc}127.0.0.1:{self.port}"))

    def start(self) -> "Proxy":
        self._thread.start()
        self._call(self._listen())
        return self

    def close(self) -> None:
        self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def cut(self) -> None:
        """Reset every connection and refuse new ones."""
        self._call(self._cut())

    def hold(self) -> None:
        """Stop moving bytes on every connection, old and new, without closing."""
        self._call(self._hold())

    def restore(self, drop_held: bool = True) -> None:
        """Forward new connections again."""
        self._call(self._restore(drop_held))

    def _call(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._accept, "127.0.0.1", self.port, reuse_address=True
            )

    async def _cut(self) -> None:
        self.state = "cut"
        if self._server is not None:
            self._server.close()
            self._server = None
        for link in list(self._links):
            link.reset()

    async def _hold(self) -> None:
        self.state = "held"
        for link in self._links:
            link.flowing.clear()
        await self._listen()

    async def _restore(self, drop_held: bool) -> None:
        if self.state == "held" and drop_held:
            for link in list(self._links):
                link.reset()
        self.state = "open"
        await self._listen()

    async def _close(self) -> None:
        await self._cut()
        # Reset links end their tasks on their own; cancelling would be noisier.
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        if tasks:
            await asyncio.wait(tasks, timeout=2)

    async def _accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if self.state == "cut":
            _reset(writer)
            return
        link = _Link(writer)
        if self.state == "open":
            link.flowing.set()
        self._links.add(link)
        try:
            await link.flowing.wait()
            if link.dropped:
                return
            up_reader, link.target = await asyncio.open_connection(*self.target)
            await asyncio.gather(
                self._pipe(reader, link.target, link),
                self._pipe(up_reader, writer, link),
                return_exceptions=True,
            )
        except OSError:
            link.reset()
        finally:
            self._links.discard(link)
            for end in (writer, link.target):
                if end is not None:
                    end.close()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: _Link
    ) -> None:
        try:
            while data := await reader.read(_CHUNK):
                # While held, bytes already read wait here, as on a stalled
                # network; a held link that is dropped never delivers them.
                await link.flowing.wait()
                if link.dropped or writer.is_closing():
                    return
                writer.write(data)
                await writer.drain()
        finally:
            # A held link passes nothing on, not even the other end's leaving.
            if link.flowing.is_set() and not writer.is_closing():
                with contextlib.suppress(OSError, RuntimeError):
                    writer.write_eof()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset rather than a clean FIN, as a dead link would."""
    transport = writer.transport
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
    transport.abort()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _default_port(url: str) -> int:
    scheme = urlsplit(url).scheme.split("+")[0]
    return {"redis": 6379, "postgresql": 5432, "postgres": 5432}[scheme]
