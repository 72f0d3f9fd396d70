"""The audit trail: one record per state-changing API request."""

from seawall.audit.log import AuditOperation, record

__all__ = ["AuditOperation", "record"]
