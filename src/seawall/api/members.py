"""Harbor-compatible `/api/v2.0` routes for project members.

Members are users and user groups with one of Harbor's role ids
(1 projectAdmin, 2 developer, 3 guest, 4 maintainer, 5 limitedGuest).
Adding, changing or removing a member needs the `member` create, update
or delete permission, which of the roles only projectAdmin has. Every
change drops the cached roles in every process, so it applies to the
next request.
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
from seawall.api.usergroups import RESOURCE_TYPE as GROUP_RESOURCE_TYPE
from seawall.audit import AuditOperation, record
from seawall.auth import groups, members
from seawall.auth.roles import GROUP_ENTITY
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
    if isinstance(exc, members.MemberExists | groups.GroupExists):
        return conflict(exc.message)
    if isinstance(exc, members.MemberInvalid | groups.GroupInvalid):
        return bad_request(exc.message)
    return not_found(exc.message)


def _member_request(body: ProjectMember) -> members.MemberRequest:
    user = body.member_user or UserEntity()
    group = body.member_group or UserGroup()
    return members.MemberRequest(
        user_id=user.user_id,
        username=user.username,
        group_id=group.id,
        group_name=group.group_name,
        group_type=group.group_type,
        ldap_group_dn=group.ldap_group_dn,
    )


def _role_reason(member: members.MemberView) -> str:
    if member.entity_type == GROUP_ENTITY:
        return f"role {member.role_name} for user group"
    return f"role {member.role_name}"


@router.post("/projects/{project_name_or_id}/members", status_code=201)
async def create_project_member(
    request: Request,
    body: ProjectMember | None = None,
    access: ProjectAccess = Depends(can_create_member),
) -> Response:
    """Add a user or user group to the project with a role.

    A group named by LDAP DN or by name and type is created if it does not
    exist yet, as `members.resolve_entity` describes.
    """
    if body is None:
        raise bad_request("the request body must contain the project member")
    registry = registry_of(request)
    project_id, name = access.project.project_id, access.project.name
    named = _member_request(body)
    context = audit_context(request, access.principal)

    def store() -> members.MemberView:
        with registry.db.session() as session:
            resolved = members.resolve_entity(session, named)
            member = members.add_member(
                session, project_id, resolved.entity, body.role_id
            )
            created = resolved.created_group
            if created is not None:
                record(
                    session,
                    **context,
                    operation=AuditOperation.CREATE,
                    resource_type=GROUP_RESOURCE_TYPE,
                    resource=created.group_name,
                    reason=f"group type {created.group_type}, "
                    f"added as member of project {name}",
                )
            record(
                session,
                **context,
                operation=AuditOperation.CREATE,
                resource_type="member",
                resource=f"{name}/{member.entity_name}",
                reason=_role_reason(member),
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
                reason=_role_reason(member),
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
                reason=_role_reason(member),
            )

    try:
        await run_in_threadpool(remove)
    except RegistryError as exc:
        raise _harbor_error(exc) from exc
    registry.metadata_changed()
    return Response(status_code=200)
