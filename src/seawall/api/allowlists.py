"""Harbor's CVE allowlist shapes, and the system list at `/system/CVEAllowlist`.

Any logged-in caller may read the system list, and only a caller with the
system permission `configuration:update` (a system administrator) may
replace it. A project's own list is read and written through the project
routes in `api.projects`, with the same body shape. Beyond Harbor, each
item may carry `expires_at` (Unix seconds) and `reason`, and an expired
item is ignored by the pull gate.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, StrictInt
from starlette.concurrency import run_in_threadpool

from seawall.api.audit import audit_context
from seawall.api.deps import authenticated, registry_of, system_guard
from seawall.api.errors import bad_request
from seawall.audit import AuditOperation, record
from seawall.auth import Principal
from seawall.policy import SystemResource
from seawall.scan import allowlists
from seawall.scan.allowlists import Allowlist, AllowlistInvalid, AllowlistItem

router = APIRouter()

AUDIT_RESOURCE_TYPE = "cve-allowlist"
# How many ids an audit record names before "and N more".
MAX_AUDITED_IDS = 50


class CVEAllowlistItem(BaseModel):
    cve_id: str | None = None
    expires_at: StrictInt | None = None
    reason: str | None = None


class CVEAllowlist(BaseModel):
    id: int | None = None
    project_id: int | None = None
    expires_at: StrictInt | None = None
    items: list[CVEAllowlistItem] | None = None
    creation_time: str | None = None
    update_time: str | None = None


def allowlist_of(body: CVEAllowlist, project_id: int | None) -> Allowlist:
    """Validate a request body and return it as the list of `project_id`.

    An invalid body raises a 400 error with the reason.
    """
    items = tuple(
        AllowlistItem(
            cve_id=item.cve_id or "", expires_at=item.expires_at, reason=item.reason
        )
        for item in body.items or []
    )
    draft = Allowlist(items=items, expires_at=body.expires_at, project_id=project_id)
    try:
        return allowlists.validate(draft)
    except AllowlistInvalid as exc:
        raise bad_request(exc.message) from exc


def allowlist_body(allowlist: Allowlist) -> CVEAllowlist:
    """Return `allowlist` in Harbor's shape; the system list has `project_id` 0."""
    # Imported here because `api.projects` imports this module's models.
    from seawall.api.projects import harbor_time

    return CVEAllowlist(
        id=allowlist.id,
        project_id=allowlist.project_id or 0,
        expires_at=allowlist.expires_at,
        items=[
            CVEAllowlistItem(
                cve_id=item.cve_id, expires_at=item.expires_at, reason=item.reason
            )
            for item in allowlist.items
        ],
        creation_time=harbor_time(allowlist.created_at)
        if allowlist.created_at
        else None,
        update_time=harbor_time(allowlist.updated_at) if allowlist.updated_at else None,
    )


def audit_summary(allowlist: Allowlist) -> str:
    """Describe a stored list for its audit record: list expiry and the first ids."""
    names = [item.cve_id for item in allowlist.items]
    ids = ", ".join(names[:MAX_AUDITED_IDS]) or "no items"
    if len(names) > MAX_AUDITED_IDS:
        ids += f", and {len(names) - MAX_AUDITED_IDS} more"
    expiry = "never" if allowlist.expires_at is None else str(allowlist.expires_at)
    return f"expires_at={expiry}; {ids}"


@router.get(
    "/system/CVEAllowlist",
    response_model=CVEAllowlist,
    response_model_exclude_none=True,
    dependencies=[Depends(authenticated)],
)
async def get_system_allowlist(request: Request) -> CVEAllowlist:
    """Return the system CVE allowlist, empty if none was ever stored."""
    registry = registry_of(request)

    def load() -> Allowlist:
        with registry.db.session(read_only=True) as session:
            return allowlists.load_system(session)

    return allowlist_body(await run_in_threadpool(load))


@router.put("/system/CVEAllowlist", response_class=Response)
async def put_system_allowlist(
    request: Request,
    body: CVEAllowlist,
    principal: Principal = Depends(
        system_guard(SystemResource.CONFIGURATION, "update")
    ),
) -> Response:
    """Replace the system CVE allowlist with the one in the body."""
    if body.project_id not in {None, 0}:
        raise bad_request(
            f"project_id of the system CVE allowlist must be 0 but it's {body.project_id}"
        )
    allowlist = allowlist_of(body, None)
    registry = registry_of(request)
    context = audit_context(request, principal)

    def store() -> None:
        with registry.db.session() as session:
            stored = allowlists.save_system(session, allowlist)
            record(
                session,
                **context,
                operation=AuditOperation.UPDATE,
                resource_type=AUDIT_RESOURCE_TYPE,
                resource="system",
                reason=audit_summary(stored),
            )

    await run_in_threadpool(store)
    registry.metadata_changed()
    return Response(status_code=200)
