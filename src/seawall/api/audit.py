"""Audit records for API requests: successes in the route, failures here."""

from __future__ import annotations

import structlog
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from seawall.audit import record
from seawall.audit.context import audit_context, current_request_id
from seawall.auth import Principal
from seawall.context import RegistryContext

logger = structlog.get_logger(__name__)

__all__ = ["FailedChangeAuditMiddleware", "audit_context"]

MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class FailedChangeAuditMiddleware:
    """Record every state-changing API request that was refused or failed."""

    def __init__(self, app: ASGIApp, registry: RegistryContext) -> None:
        self.app = app
        self.registry = registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in MUTATING_METHODS:
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            if status >= 400:
                await run_in_threadpool(self._record_failure, scope, status)

    def _record_failure(self, scope: Scope, status: int) -> None:
        state = scope.get("state", {})
        principal = state.get("principal")
        username = (
            principal.username if isinstance(principal, Principal) else "anonymous"
        )
        client = scope.get("client")
        try:
            with self.registry.db.session() as session:
                record(
                    session,
                    username=username,
                    operation=scope["method"].lower(),
                    resource_type="api",
                    resource=scope["path"],
                    result="failure",
                    reason=f"{status}: {state.get('error_message', '')}".strip(),
                    client_ip=client[0] if client else "",
                    request_id=current_request_id(),
                )
        except Exception:
            logger.exception("audit record failed", path=scope["path"], status=status)
