"""Writes audit records: who did what to which resource, and the result.

A successful change is recorded in the same transaction as the change
itself, so a record exists exactly when the change does. A refused or
failed request is recorded in a transaction of its own.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy.orm import Session

from seawall.db.models import AuditLog


class AuditOperation(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    PULL = "pull"


def record(
    session: Session,
    *,
    username: str,
    operation: str,
    resource_type: str,
    resource: str,
    result: str = "success",
    reason: str = "",
    client_ip: str = "",
    request_id: str = "",
) -> None:
    session.add(
        AuditLog(
            username=username,
            operation=operation,
            resource_type=resource_type,
            resource=resource[:512],
            result=result,
            reason=reason,
            client_ip=client_ip,
            request_id=request_id,
        )
    )
