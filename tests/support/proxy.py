"""A TCP proxy on 127.0.0.1 that a test can cut and restore.

It runs its own event loop in a thread, so it keeps forwarding while the test
blocks (in ``time.sleep``, a subprocess call or a synchronous HTTP request).

- ``cut()``: every open connection is reset and new ones are refused, as when
  a server restarts or a firewall rejects the link.
- ``hold()``: connections stay open but nothing gets through either way and
  new ones hang, as when the network drops packets silently.
- ``restore()``: new connections are forwarded again. Connections cut or held
  before stay dead: the client has to reconnect, as it would in real life.
"""

import asyncio
import contextlib
import socket
import struct
import threading
from urllib.parse import urlsplit, urlunsplit

_CHUNK = 65536


class Proxy:
    """Forwards 127.0.0.1:``port`` to ``target_host``:``target_port``."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = _free_port()
        self.state = "open"
        self.accepted = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"proxy-{self.port}", daemon=True
        )
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self._held: set[asyncio.Task[None]] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()

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
        self._call(self._cut())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def cut(self) -> None:
        """Reset every connection and refuse new ones."""
        self._call(self._cut())

    def hold(self) -> None:
        """Stop moving bytes on every connection, old and new, without closing."""
        self._call(self._hold())

    def restore(self) -> None:
        """Forward new connections again."""
        self._call(self._restore())

    def _call(self, coroutine: object) -> None:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)  # type: ignore[arg-type]
        future.result(10)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, reuse_address=True
        )

    async def _cut(self) -> None:
        self.state = "cut"
        self._flowing.set()
        if self._server is not None:
            self._server.close()
            self._server = None
        self._drop_all()

    async def _hold(self) -> None:
        self.state = "held"
        self._flowing.clear()
        if self._server is None:
            await self._listen()

    async def _restore(self) -> None:
        if self.state == "held":
            self._drop_all()
        self.state = "open"
        self._flowing.set()
        if self._server is None:
            await self._listen()

    def _drop_all(self) -> None:
        for writer in list(self._links):
            _reset(writer)
        self._links.clear()
        for task in list(self._held):
            task.cancel()

    async def _accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if self.state == "cut":
            _reset(writer)
            return
        if self.state == "held":
            self._links.add(writer)
            task = asyncio.current_task()
            assert task is not None
            self._held.add(task)
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()
            self._held.discard(task)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            _reset(writer)
            return
        self.accepted += 1
        self._links.update((writer, up_writer))
        await asyncio.gather(
            self._pipe(reader, up_writer),
            self._pipe(up_reader, writer),
            return_exceptions=True,
        )
        for end in (writer, up_writer):
            self._links.discard(end)
            end.close()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while data := await reader.read(_CHUNK):
                # While held, bytes already read wait here, as on a stalled
                # network; restore() resets held links, so they never arrive.
                await self._flowing.wait()
                if writer.is_closing():
                    return
                writer.write(data)
                await writer.drain()
        finally:
            if not writer.is_closing():
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
