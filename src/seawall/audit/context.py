"""The actor fields of an audit record, taken from the request being served."""

from __future__ import annotations

import structlog
from starlette.requests import HTTPConnection

from seawall.auth import Principal


def current_request_id() -> str:
    """Return the id the request middleware bound for this request, or ""."""
    value = structlog.contextvars.get_contextvars().get("request_id", "")
    return str(value)


def audit_context(request: HTTPConnection, principal: Principal) -> dict[str, str]:
    """Return the actor fields of an audit record for this request."""
    return {
        "username": principal.username,
        "client_ip": request.client.host if request.client else "",
        "request_id": current_request_id(),
    }
