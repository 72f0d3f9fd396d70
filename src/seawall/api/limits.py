"""Checks every `/api/v2.0` request passes before a route reads it.

The body is read in full, up to `MAX_BODY_BYTES`, before any route or
authentication runs, so an anonymous caller cannot make the server parse
a huge document. A NUL character anywhere in the query string or body is
rejected: PostgreSQL cannot store it in text, and no Harbor field needs
it.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from seawall.api.errors import HarborCode, error_response

MAX_BODY_BYTES = 1024 * 1024


class RequestLimitsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query: bytes = scope.get("query_string", b"")
        if b"%00" in query or b"\x00" in query or "\x00" in scope["path"]:
            await _reject(scope, receive, send, HarborCode.BAD_REQUEST, "NUL character")
            return
        body = await _read_body(scope, receive)
        if body is None:
            message = f"request body exceeds {MAX_BODY_BYTES} bytes"
            await _reject(
                scope, receive, send, HarborCode.REQUEST_ENTITY_TOO_LARGE, message
            )
            return
        if b"\x00" in body or b"\\u0000" in body.lower():
            await _reject(scope, receive, send, HarborCode.BAD_REQUEST, "NUL character")
            return
        await self.app(scope, _replay(body, receive), send)


async def _read_body(scope: Scope, receive: Receive) -> bytes | None:
    """Return the whole body, or None as soon as it is larger than the limit."""
    for name, value in scope["headers"]:
        if (
            name == b"content-length"
            and value.isdigit()
            and int(value) > MAX_BODY_BYTES
        ):
            return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, original: Receive) -> Receive:
    """Hand the buffered body to the app, then pass on later messages such as disconnect."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await original()

    return receive


async def _reject(
    scope: Scope, receive: Receive, send: Send, code: HarborCode, reason: str
) -> None:
    message = (
        reason if code is not HarborCode.BAD_REQUEST else f"request contains a {reason}"
    )
    scope.setdefault("state", {})["error_message"] = message
    await error_response(code, message)(scope, receive, send)
