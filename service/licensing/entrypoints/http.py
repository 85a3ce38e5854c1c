"""Probes, metrics and the AsyncAPI document over plain HTTP, beside the worker."""

import asyncio
import json
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.asyncio import Redis

from .. import metrics
from ..adapters.store import Store
from ..asyncapi import document
from ..logs import logger
from ..service_layer.ownership import Worker
from ..settings import Settings

PROBE_TIMEOUT = 2.0
Response = tuple[int, str, bytes]


async def _check(what: Callable[[], Awaitable[object]]) -> str | None:
    try:
        await asyncio.wait_for(what(), PROBE_TIMEOUT)
        return None
    except Exception as error:
        return f"{type(error).__name__}: {error}"[:200] or "unreachable"


class Endpoints:
    def __init__(
        self, worker: Worker, store: Store, redis: Redis, settings: Settings
    ) -> None:
        self.worker = worker
        self.store = store
        self.redis = redis
        self.asyncapi = json.dumps(document(settings.stream_prefix)).encode()

    async def livez(self) -> Response:
        live = self.worker.live()
        body = {"live": live, "partitions": self.worker.partitions}
        return (200 if live else 503), "application/json", json.dumps(body).encode()

    async def readyz(self) -> Response:
        problems = {}
        if database := await _check(self.store.ping):
            problems["database"] = database
        if redis := await _check(self.redis.ping):
            problems["redis"] = redis
        body = {"ready": not problems, "problems": problems}
        return (503 if problems else 200), "application/json", json.dumps(body).encode()

    async def metrics(self) -> Response:
        try:
            backlog, age = await asyncio.wait_for(
                self.store.outbox_backlog(), PROBE_TIMEOUT
            )
            metrics.outbox_backlog.set(backlog)
            metrics.outbox_age.set(age)
        except Exception as error:
            logger.debug("outbox backlog unknown: %s", error)
        return 200, CONTENT_TYPE_LATEST, generate_latest(metrics.registry)

    async def asyncapi_document(self) -> Response:
        return 200, "application/json", self.asyncapi

    def route(self, path: str) -> Callable[[], Awaitable[Response]] | None:
        return {
            "/livez": self.livez,
            "/readyz": self.readyz,
            "/metrics": self.metrics,
            "/asyncapi": self.asyncapi_document,
            "/asyncapi.json": self.asyncapi_document,
        }.get(path)

    async def handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (
                b"\r\n",
                b"\n",
                b"",
            ):
                pass
            parts = request.decode("latin-1").split()
            path = parts[1].split("?")[0] if len(parts) >= 2 else ""
            handler = self.route(path)
            if handler is None:
                status, kind, body = 404, "text/plain", b"not found\n"
            else:
                status, kind, body = await handler()
            reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
            head = (
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: {kind}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
        except Exception as error:
            logger.debug("http request failed: %s", error)
        finally:
            writer.close()


async def serve(
    worker: Worker, store: Store, redis: Redis, settings: Settings
) -> asyncio.Server:
    endpoints = Endpoints(worker, store, redis, settings)
    server = await asyncio.start_server(endpoints.handle, "0.0.0.0", settings.http_port)
    logger.info("http endpoints on port %d", settings.http_port)
    return server
