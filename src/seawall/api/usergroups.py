"""Harbor-compatible `/api/v2.0` routes for user groups.

Listing, reading, creating, renaming and deleting groups needs the system
`user-group` permission: system administrators, or robots granted it.
`/usergroups/search` is open to every authenticated caller, so that a
project administrator can find a group to add as a member. Deleting a
group removes its project memberships and drops the cached roles in
every process.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from seawall.api.audit import audit_context
from seawall.api.deps import authenticated, registry_of, system_guard
from seawall.api.errors import HarborError, bad_request, conflict, not_found
from seawall.api.pagination import page_of, set_page_headers
from seawall.audit import AuditOperation, record
from seawall.auth import Principal, groups
from seawall.registry.errors import RegistryError

router = APIRouter()

RESOURCE_TYPE = "user-group"

can_list = system_guard(RESOURCE_TYPE, "list")
can_read = system_guard(RESOURCE_TYPE, "read")
can_create = system_guard(RESOURCE_TYPE, "create")
can_update = system_guard(RESOURCE_TYPE, "update")
can_delete = system_guard(RESOURCE_TYPE, "delete")


class UserGroup(BaseModel):
    id: int | None = None
    group_name: str | None = None
    group_type: int | None = None
    ldap_group_dn: str | None = None


class UserGroupSearchItem(BaseModel):
    id: int
    group_name: str
    group_type: int


def _body(group: groups.GroupView) -> UserGroup:
    return UserGroup(
        id=group.id,
        group_name=group.group_name,
        group_type=group.group_type,
        ldap_group_dn=group.ldap_group_dn,
    )


def _harbor_error(exc: RegistryError) -> HarborError:
    if isinstance(exc, groups.GroupExists):
        return conflict(exc.message)
    if isinstance(exc, groups.GroupInvalid):
        return bad_request(exc.message)
    return not_found(exc.message)


def _check_id(group_id: int) -> None:
    if group_id < 1:
        raise bad_request(f"the group id must be a positive integer, got {group_id}")


@router.get("/usergroups", response_model=list[UserGroup])
async def list_user_groups(
    request: Request,
    response: Response,
    group_name: str | None = Query(None, description="Part of the group name."),
    ldap_group_dn: str | None = Query(None, description="An LDAP group's whole DN."),
    principal: Principal = Depends(can_list),
) -> list[UserGroup]:
    """List user groups, ordered by name, one page at a time."""
    registry = registry_of(request)
    page = page_of(request)

    def load() -> tuple[int, list[groups.GroupView]]:
        with registry.db.session(read_only=True) as session:
            return groups.list_groups(
                session, group_name, ldap_group_dn, page.offset, page.size
            )

    total, found = await run_in_threadpool(load)
    set_page_headers(request, response, page, total)
    return [_body(group) for group in found]


@router.post("/usergroups", status_code=201)
async def create_user_group(
    request: Request,
    body: UserGroup | None = None,
    principal: Principal = Depends(can_create),
) -> Response:
    """Create a user group. An LDAP group (type 1) needs `ldap_group_dn`."""
    if body is None:
        raise bad_request("the request body must contain the user group")
    registry = registry_of(request)
    context = audit_context(request, principal)

    def store() -> groups.GroupView:
        with registry.db.session() as session:
            group = groups.create_group(
                session, body.group_name, body.group_type, body.ldap_group_dn
            )
            record(
                session,
                **context,
                operation=AuditOperation.CREATE,
                resource_type=RESOURCE_TYPE,
                resource=group.group_name,
                reason=f"group type {group.group_type}",
            )
            return group

    try:
        group = await run_in_threadpool(store)
    except RegistryError as exc:
        raise _harbor_error(exc) from exc
    location = f"{request.url.path.rstrip('/')}/{group.id}"
    return Response(status_code=201, headers={"Location": location})


@router.get("/usergroups/search", response_model=list[UserGroupSearchItem])
async def search_user_groups(
    request: Request,
    response: Response,
    groupname: str | None = Query(None, description="Part of the group name."),
    principal: Principal = Depends(authenticated),
) -> list[UserGroupSearchItem]:
    """Find groups whose name contains `groupname`, closest matches first."""
    if not groupname:
        raise bad_request("groupname is required to search user groups")
    registry = registry_of(request)
    page = page_of(request)

    def load() -> tuple[int, list[groups.GroupView]]:
        with registry.db.session(read_only=True) as session:
            return groups.search_groups(session, groupname, page.offset, page.size)

    total, found = await run_in_threadpool(load)
    set_page_headers(request, response, page, total)
    return [
        UserGroupSearchItem(
            id=group.id, group_name=group.group_name, group_type=group.group_type
        )
        for group in found
    ]


@router.get("/usergroups/{group_id}", response_model=UserGroup)
async def get_user_group(
    request: Request, group_id: int, principal: Principal = Depends(can_read)
) -> UserGroup:
    """Return one user group."""
    _check_id(group_id)
    registry = registry_of(request)

    def load() -> groups.GroupView:
        with registry.db.session(read_only=True) as session:
            return groups.get_group(session, group_id)

    try:
        return _body(await run_in_threadpool(load))
    except RegistryError as exc:
        raise _harbor_error(exc) from exc


@router.put("/usergroups/{group_id}", response_class=Response)
async def update_user_group(
    request: Request,
    group_id: int,
    body: UserGroup | None = None,
    principal: Principal = Depends(can_update),
) -> Response:
    """Rename a user group, ignoring `group_type` and `ldap_group_dn` in the body."""
    _check_id(group_id)
    registry = registry_of(request)
    new_name = body.group_name if body is not None else None
    context = audit_context(request, principal)

    def store() -> None:
        with registry.db.session() as session:
            before = groups.get_group(session, group_id)
            after = groups.rename_group(session, group_id, new_name)
            record(
                session,
                **context,
                operation=AuditOperation.UPDATE,
                resource_type=RESOURCE_TYPE,
                resource=after.group_name,
                reason=f"renamed from {before.group_name}",
            )

    try:
        await run_in_threadpool(store)
    except RegistryError as exc:
        raise _harbor_error(exc) from exc
    return Response(status_code=200)


@router.delete("/usergroups/{group_id}", response_class=Response)
async def delete_user_group(
    request: Request, group_id: int, principal: Principal = Depends(can_delete)
) -> Response:
    """Delete a user group and its project memberships."""
    _check_id(group_id)
    registry = registry_of(request)
    context = audit_context(request, principal)

    def remove() -> None:
        with registry.db.session() as session:
            group, memberships = groups.delete_group(session, group_id)
            record(
                session,
                **context,
                operation=AuditOperation.DELETE,
                resource_type=RESOURCE_TYPE,
                resource=group.group_name,
                reason=f"removed {memberships} project memberships",
            )

    try:
        await run_in_threadpool(remove)
    except RegistryError as exc:
        raise _harbor_error(exc) from exc
    registry.metadata_changed()
    return Response(status_code=200)
