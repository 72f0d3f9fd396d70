"""ASGI middleware: request ids, registry headers and the access log."""

from __future__ import annotations

import asyncio
import re
import time
import uuid

import structlog
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = structlog.get_logger("seawall.access")

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")

# An error reply to a request whose body was not read (a 401 on an upload,
# say) first reads and drops up to this many body bytes, so the client can
# send its next request on the same connection. A longer body gets
# `Connection: close` instead.
DRAIN_LIMIT_BYTES = 8 * 1024 * 1024
# The drain also ends after this many seconds, so a client that stopped
# sending its body still gets the error reply, with `Connection: close`.
DRAIN_TIMEOUT_SECONDS = 5.0


class RequestContextMiddleware:
    """Tag each request with an id, add `/v2/` headers and log the outcome."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        is_registry = scope["path"].startswith("/v2")
        started = time.perf_counter()
        status = 500
        body_done = False

        async def receive_tracked() -> Message:
            nonlocal body_done
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def send_with_headers(message: Message) -> None:
            nonlocal status, body_done
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-Id"] = request_id
                if is_registry:
                    headers["Docker-Distribution-API-Version"] = "registry/2.0"
                if status >= 400 and not body_done:
                    body_done = await _drain(receive_tracked)
                    if not body_done:
                        headers["Connection"] = "close"
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive_tracked, send_with_headers)
        finally:
            logger.debug(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
            structlog.contextvars.unbind_contextvars("request_id")


def _request_id(scope: Scope) -> str:
    for key, value in scope["headers"]:
        if key == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if _REQUEST_ID_RE.match(candidate):
                return candidate
    return uuid.uuid4().hex


async def _drain(receive: Receive) -> bool:
    """Read and drop the rest of a request body, and return whether it all arrived.

    Gives up after `DRAIN_LIMIT_BYTES` or `DRAIN_TIMEOUT_SECONDS`.
    """
    received = 0
    try:
        async with asyncio.timeout(DRAIN_TIMEOUT_SECONDS):
            while received <= DRAIN_LIMIT_BYTES:
                message = await receive()
                if message["type"] != "http.request":
                    return False
                received += len(message.get("body", b""))
                if not message.get("more_body", False):
                    return True
    except TimeoutError:
        logger.debug(
            "request body not drained",
            reason=f"no end of body within {DRAIN_TIMEOUT_SECONDS:g} s",
            received=received,
        )
    return False
