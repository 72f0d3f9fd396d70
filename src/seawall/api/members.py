"""Harbor-compatible `/api/v2.0` routes for project members.

Members are users with one of Harbor's role ids (1 projectAdmin,
2 developer, 3 guest, 4 maintainer, 5 limitedGuest). Adding, changing or
removing a member needs the `member` create, update or delete permission,
which of the roles only projectAdmin has. Every change drops the cached
roles in every process, so it applies to the next request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from seawall.api.audit import audit_context
from seawall.api.deps import ProjectAccess, project_guard, registry_of
from seawall.api.errors import HarborError, bad_request, conflict, not_found
from seawall.api.pagination import page_of, set_page_headers
from seawall.audit import AuditOperation, record
from seawall.auth import members
from seawall.policy import Action, Permission, Resource
from seawall.registry.errors import RegistryError

router = APIRouter()

can_create_member = project_guard(Permission(Resource.MEMBER, Action.CREATE))
can_delete_member = project_guard(Permission(Resource.MEMBER, Action.DELETE))
can_list_members = project_guard(Permission(Resource.MEMBER, Action.LIST))
can_read_member = project_guard(Permission(Resource.MEMBER, Action.READ))
can_update_member = project_guard(Permission(Resource.MEMBER, Action.UPDATE))

# Member ids are integer columns, so a larger id names no member.
MemberId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The member id.")]


class UserEntity(BaseModel):
    user_id: int | None = None
    username: str | None = None


class UserGroup(BaseModel):
    id: int | None = None
    group_name: str | None = None
    group_type: int | None = None
    ldap_group_dn: str | None = None


class ProjectMember(BaseModel):
    role_id: int | None = None
    member_user: UserEntity | None = None
    member_group: UserGroup | None = None


class RoleRequest(BaseModel):
    role_id: int | None = None


class ProjectMemberEntity(BaseModel):
    id: int
    project_id: int
    entity_name: str
    role_name: str
    role_id: int
    entity_id: int
    entity_type: str


def _entity(member: members.MemberView) -> ProjectMemberEntity:
    return ProjectMemberEntity(
        id=member.id,
        project_id=member.project_id,
        entity_name=member.entity_name,
        role_name=member.role_name,
        role_id=member.role_id,
        entity_id=member.entity_id,
        entity_type=member.entity_type,
    )


def _harbor_error(exc: RegistryError) -> HarborError:
    if isinstance(exc, members.MemberExists):
        return conflict(exc.message)
    if isinstance(exc, members.MemberInvalid):
        return bad_request(exc.message)
    return not_found(exc.message)


def _names_group(body: ProjectMember) -> bool:
    """Return whether the request names a user group rather than a user.

    Harbor tries, in order: `member_user.user_id`, `member_group.id`,
    `member_user.username`, then the group's DN or name.
    """
    user = body.member_user or UserEntity()
    group = body.member_group or UserGroup()
    if user.user_id is not None and user.user_id > 0:
        return False
    if group.id is not None and group.id > 0:
        return True
    if user.username:
        return False
    return bool(group.ldap_group_dn or group.group_name)


@router.post("/projects/{project_name_or_id}/members", status_code=201)
async def create_project_member(
    request: Request,
    body: ProjectMember | None = None,
    access: ProjectAccess = Depends(can_create_member),
) -> Response:
    """Add a user to the project with a role, named by `user_id` or `username`."""
    if body is None:
        raise bad_request("the request body must contain the project member")
    if _names_group(body):
        # TODO: accept user groups once an LDAP, OIDC or HTTP authenticator
        # provides them. Until then only users can be members.
        raise bad_request("groups are not supported: add users with member_user")
    registry = registry_of(request)
    project_id, name = access.project.project_id, access.project.name
    user = body.member_user or UserEntity()
    context = audit_context(request, access.principal)

    def store() -> members.MemberView:
        with registry.db.session() as session:
            found = members.resolve_user(session, user.user_id, user.username)
            member = members.add_member(session, project_id, found, body.role_id)
            record(
                session,
                **context,
                operation=AuditOperation.CREATE,
                resource_type="member",
                resource=f"{name}/{member.entity_name}",
                reason=f"role {member.role_name}",
            )
            return member

    try:
        member = await run_in_threadpool(store)
    except RegistryError as exc:
        raise _harbor_error(exc) from exc
    registry.metadata_changed()
    location = f"{request.url.path.rstrip('/')}/{member.id}"
    return Response(status_code=201, headers={"Location": location})


@router.get(
    "/projects/{project_name_or_id}/members",
    response_model=list[ProjectMemberEntity],
)
async def list_project_members(
    request: Request,
    response: Response,
    entityname: str | None = Query(None, description="Part of the member's name."),
    access: ProjectAccess = Depends(can_list_members),
) -> list[ProjectMemberEntity]:
    """List the project's members, ordered by name, one page at a time."""
    registry = registry_of(request)
    page = page_of(request)
    project_id = access.project.project_id

    def load() -> tuple[int, list[members.MemberView]]:
        with registry.db.session(read_only=True) as session:
            return members.list_members(
                session, project_id, entityname, page.offset, page.size
            )

    total, found = await run_in_threadpool(load)
    set_page_headers(request, response, page, total)
    return [_entity(member) for member in found]


@router.get(
    "/projects/{project_name_or_id}/members/{mid}",
    response_model=ProjectMemberEntity,
)
async def get_project_member(
    request: Request,
    mid: MemberId,
    access: ProjectAccess = Depends(can_read_member),
) -> ProjectMemberEntity:
    """Return one member of the project."""
    registry = registry_of(request)
    project_id, name = access.project.project_id, access.project.name

    def load() -> members.MemberView:
        with registry.db.session(read_only=True) as session:
            return members.get_member(session, project_id, name, mid)

    try:
        return _entity(await run_in_threadpool(load))
    except RegistryError as exc:
        raise _harbor_error(exc) from exc


@router.put("/projects/{project_name_or_id}/members/{mid}", response_class=Response)
async def update_project_member(
    request: Request,
    mid: MemberId,
    body: RoleRequest | None = None,
    access: ProjectAccess = Depends(can_update_member),
) -> Response:
    """Change a member's role."""
    registry = registry_of(request)
    project_id, name = access.project.project_id, access.project.name
    role_id = body.role_id if body is not None else None
    context = audit_context(request, access.principal)

    def store() -> None:
        with registry.db.session() as session:
            role = members.check_role(role_id)
            member = members.update_role(session, project_id, name, mid, role)
            record(
                session,
                **context,
                operation=AuditOperation.UPDATE,
                resource_type="member",
                resource=f"{name}/{member.entity_name}",
                reason=f"role {member.role_name}",
            )

    try:
        await run_in_threadpool(store)
    except RegistryError as exc:
        raise _harbor_error(exc) from exc
    registry.metadata_changed()
    return Response(status_code=200)


@router.delete("/projects/{project_name_or_id}/members/{mid}", response_class=Response)
async def delete_project_member(
    request: Request,
    mid: MemberId,
    access: ProjectAccess = Depends(can_delete_member),
) -> Response:
    """Remove a member from the project."""
    registry = registry_of(request)
    project_id, name = access.project.project_id, access.project.name
    context = audit_context(request, access.principal)

    def remove() -> None:
        with registry.db.session() as session:
            member = members.delete_member(session, project_id, name, mid)
            record(
                session,
                **context,
                operation=AuditOperation.DELETE,
                resource_type="member",
                resource=f"{name}/{member.entity_name}",
            )

    try:
        await run_in_threadpool(remove)
    except RegistryError as exc:
        raise _harbor_error(exc) from exc
    registry.metadata_changed()
    return Response(status_code=200)
