"""Harbor's scanner registration routes, and the scanner of each project.

`/scanners` manages the registrations (system administrators, or robots
with system `scanner:*` grants). `/projects/{project_name_or_id}/scanner`
reads and chooses the registration a project's scans use. The built-in
scanner returns its metadata itself, and an external adapter is asked
over HTTP. Stored access credentials are never returned: responses carry an
empty `access_credential`, and an update with an empty one keeps it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import structlog
from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from seawall.api.audit import audit_context
from seawall.api.deps import ProjectAccess, project_guard, registry_of, system_guard
from seawall.api.errors import (
    HarborCode,
    HarborError,
    bad_request,
    conflict,
    forbidden,
    not_found,
)
from seawall.api.pagination import page_of, set_page_headers
from seawall.api.query import apply_query, apply_sort, parse_query
from seawall.api.scanner_models import (
    AdapterAddress,
    IsDefault,
    ProjectScanner,
    ScannerAdapterMetadata,
    ScannerRegistration,
    ScannerRegistrationReq,
    ScannerRegistrationSettings,
    metadata_body,
    registration_body,
)
from seawall.audit import AuditOperation, record
from seawall.auth import Principal
from seawall.db.models import ScannerRegistration as RegistrationRow
from seawall.policy import Action, Permission, Resource
from seawall.scan import adapter_metadata as metadata
from seawall.scan import registrations

logger = structlog.get_logger(__name__)

router = APIRouter()

RESOURCE_TYPE = "scanner"
_QUERY_COLUMNS = {
    "name": RegistrationRow.name,
    "description": RegistrationRow.description,
    "url": RegistrationRow.url,
}
_SORT_COLUMNS = {
    **_QUERY_COLUMNS,
    "is_default": RegistrationRow.is_default,
    "create_time": RegistrationRow.created_at,
    "update_time": RegistrationRow.updated_at,
}

can_list = system_guard(RESOURCE_TYPE, "list")
can_read = system_guard(RESOURCE_TYPE, "read")
can_create = system_guard(RESOURCE_TYPE, "create")
can_update = system_guard(RESOURCE_TYPE, "update")
can_delete = system_guard(RESOURCE_TYPE, "delete")
can_read_project_scanner = project_guard(Permission(Resource.SCANNER, Action.READ))
can_choose_project_scanner = project_guard(Permission(Resource.SCANNER, Action.CREATE))


@contextmanager
def _harbor_errors() -> Iterator[None]:
    """Turn registration and adapter errors into Harbor's API errors."""
    try:
        yield
    except registrations.RegistrationNotFound as exc:
        raise not_found(exc.message) from exc
    except registrations.RegistrationConflict as exc:
        raise conflict(exc.message) from exc
    except registrations.RegistrationImmutable as exc:
        raise forbidden(exc.message) from exc
    except registrations.RegistrationError as exc:
        raise bad_request(exc.message) from exc
    except metadata.AdapterUnavailable as exc:
        raise bad_request(exc.message) from exc


async def _read(request: Request, work: Callable[[Session], Any]) -> Any:
    registry = registry_of(request)

    def run() -> Any:
        with registry.db.session(read_only=True) as session:
            return work(session)

    with _harbor_errors():
        return await run_in_threadpool(run)


async def _change(
    request: Request,
    principal: Principal,
    operation: AuditOperation,
    work: Callable[[Session], RegistrationRow],
    reason: str = "",
) -> ScannerRegistration:
    """Run `work` in one transaction with its audit record, then move the epoch."""
    registry = registry_of(request)
    context = audit_context(request, principal)

    def run() -> ScannerRegistration:
        with registry.db.session() as session:
            row = work(session)
            record(
                session,
                **context,
                operation=operation,
                resource_type=RESOURCE_TYPE,
                resource=row.name,
                reason=reason,
            )
            return registration_body(row)

    with _harbor_errors():
        changed = await run_in_threadpool(run)
    # The gate reads the newest report of the project's registration, so a
    # cached decision must not outlive a change of which registration counts.
    registry.metadata_changed()
    return changed


async def _ping(settings: registrations.RegistrationSettings) -> None:
    """Raise 400 unless the adapter at `settings.url` returns valid metadata."""
    with _harbor_errors():
        await run_in_threadpool(
            metadata.fetch_metadata,
            settings.url,
            auth=settings.auth,
            credential=settings.access_credential,
            skip_cert_verify=settings.skip_cert_verify,
        )


def _listing(request: Request) -> Any:
    """Build the registration select from `q`, `sort` and Harbor's older filters."""
    statement = select(RegistrationRow)
    statement = apply_query(
        statement, parse_query(request.query_params.get("q")), _QUERY_COLUMNS
    )
    for key in ("name", "description", "url"):
        value = request.query_params.get(key)
        if value:
            statement = statement.where(_QUERY_COLUMNS[key].contains(value))
    for key in ("ex_name", "ex_url"):
        value = request.query_params.get(key)
        if value:
            statement = statement.where(_QUERY_COLUMNS[key[3:]] == value)
    sort = request.query_params.get("sort")
    if sort:
        return apply_sort(statement, sort, _SORT_COLUMNS, RegistrationRow.created_at)
    return statement.order_by(
        RegistrationRow.is_default.desc(), RegistrationRow.created_at.desc()
    )


async def _page_of_registrations(
    request: Request, response: Response
) -> list[ScannerRegistration]:
    page = page_of(request)
    statement = _listing(request)

    def load(session: Session) -> tuple[list[ScannerRegistration], int]:
        rows, total = registrations.list_registrations(
            session, statement, page.offset, page.size
        )
        return [registration_body(row) for row in rows], total

    bodies, total = await _read(request, load)
    set_page_headers(request, response, page, total)
    return list(bodies)


@router.get("/scanners", response_model=list[ScannerRegistration])
async def list_scanners(
    request: Request, response: Response, principal: Principal = Depends(can_list)
) -> list[ScannerRegistration]:
    """List scanner registrations, the default first and then the newest."""
    return await _page_of_registrations(request, response)


@router.post("/scanners", status_code=201, response_class=Response)
async def create_scanner(
    request: Request,
    body: ScannerRegistrationReq,
    principal: Principal = Depends(can_create),
) -> Response:
    """Register an external adapter after checking that it returns its metadata."""
    with _harbor_errors():
        settings = registrations.validate_settings(body.settings())
    await _ping(settings)
    created = await _change(
        request,
        principal,
        AuditOperation.CREATE,
        lambda session: registrations.create_registration(session, settings),
    )
    location = f"{request.url.path.rstrip('/')}/{created.uuid}"
    return Response(status_code=201, headers={"Location": location})


@router.post("/scanners/ping", response_class=Response)
async def ping_scanner(
    body: ScannerRegistrationSettings, principal: Principal = Depends(can_read)
) -> Response:
    """Check that an adapter returns valid metadata with these settings."""
    with _harbor_errors():
        settings = registrations.validate_settings(
            registrations.RegistrationSettings(
                name=body.name,
                url=body.url,
                auth=body.auth,
                access_credential=body.access_credential,
            )
        )
    await _ping(settings)
    return Response(status_code=200)


@router.get("/scanners/{registration_id}", response_model=ScannerRegistration)
async def get_scanner(
    request: Request, registration_id: str, principal: Principal = Depends(can_read)
) -> ScannerRegistration:
    """Return one registration, without its credential."""

    def load(session: Session) -> ScannerRegistration:
        return registration_body(
            registrations.get_registration(session, registration_id)
        )

    body: ScannerRegistration = await _read(request, load)
    return body


@router.put("/scanners/{registration_id}", response_class=Response)
async def update_scanner(
    request: Request,
    registration_id: str,
    body: ScannerRegistrationReq,
    principal: Principal = Depends(can_update),
) -> Response:
    """Replace the settings of an external registration (the built-in one is 403)."""
    settings = body.settings()
    await _change(
        request,
        principal,
        AuditOperation.UPDATE,
        lambda session: registrations.update_registration(
            session, registration_id, settings
        ),
    )
    return Response(status_code=200)


@router.patch("/scanners/{registration_id}", response_class=Response)
async def set_scanner_as_default(
    request: Request,
    registration_id: str,
    body: IsDefault,
    principal: Principal = Depends(can_update),
) -> Response:
    """Make a registration the system default. `is_default: false` changes nothing."""
    if not body.is_default:
        await _read(
            request,
            lambda session: registrations.get_registration(session, registration_id),
        )
        return Response(status_code=200)
    await _change(
        request,
        principal,
        AuditOperation.UPDATE,
        lambda session: registrations.set_default(session, registration_id),
        reason="set as system default",
    )
    return Response(status_code=200)


@router.delete("/scanners/{registration_id}", response_model=ScannerRegistration)
async def delete_scanner(
    request: Request, registration_id: str, principal: Principal = Depends(can_delete)
) -> ScannerRegistration:
    """Delete an external registration and return it (the built-in one is 403)."""
    return await _change(
        request,
        principal,
        AuditOperation.DELETE,
        lambda session: registrations.delete_registration(session, registration_id),
    )


@router.get(
    "/scanners/{registration_id}/metadata", response_model=ScannerAdapterMetadata
)
async def get_scanner_metadata(
    request: Request, registration_id: str, principal: Principal = Depends(can_read)
) -> ScannerAdapterMetadata:
    """Return the adapter's metadata: its scanner, capabilities and properties."""

    def load(session: Session) -> AdapterAddress | metadata.AdapterMetadata:
        row = registrations.get_registration(session, registration_id)
        if registrations.is_builtin(row):
            return metadata.builtin_metadata(session)
        return AdapterAddress(
            row.url,
            row.auth,
            row.access_credential,
            row.skip_cert_verify,
        )

    loaded = await _read(request, load)
    if isinstance(loaded, metadata.AdapterMetadata):
        return metadata_body(loaded)
    try:
        found = await run_in_threadpool(
            metadata.fetch_metadata,
            loaded.url,
            auth=loaded.auth,
            credential=loaded.credential,
            skip_cert_verify=loaded.skip_cert_verify,
        )
    except metadata.AdapterUnavailable as exc:
        # As in Harbor, an adapter that does not answer is a server error here.
        raise HarborError(HarborCode.UNKNOWN, exc.message) from exc
    return metadata_body(found)


# The scanner of a project ---------------------------------------------


@router.get(
    "/projects/{project_name_or_id}/scanner",
    response_model=ScannerRegistration,
    response_model_exclude_none=True,
)
async def get_project_scanner(
    request: Request, access: ProjectAccess = Depends(can_read_project_scanner)
) -> ScannerRegistration:
    """Return the project's chosen registration, else the system default."""
    project_id = access.project.project_id

    def load(session: Session) -> ScannerRegistration | None:
        row = registrations.scanner_for_project(session, project_id)
        return registration_body(row) if row is not None else None

    body: ScannerRegistration | None = await _read(request, load)
    if body is None:
        raise not_found(f"no scanner is configured for project {access.project.name}")
    return body


@router.put("/projects/{project_name_or_id}/scanner", response_class=Response)
async def set_project_scanner(
    request: Request,
    body: ProjectScanner,
    access: ProjectAccess = Depends(can_choose_project_scanner),
) -> Response:
    """Choose the registration that scans this project's artifacts."""
    project_id = access.project.project_id
    await _change(
        request,
        access.principal,
        AuditOperation.UPDATE,
        lambda session: registrations.set_project_scanner(
            session, project_id, body.uuid
        ),
        reason=f"scanner of project {access.project.name}",
    )
    return Response(status_code=200)


@router.get(
    "/projects/{project_name_or_id}/scanner/candidates",
    response_model=list[ScannerRegistration],
)
async def list_project_scanner_candidates(
    request: Request,
    response: Response,
    access: ProjectAccess = Depends(can_choose_project_scanner),
) -> list[ScannerRegistration]:
    """List the registrations a project may choose, paged as `/scanners` is."""
    return await _page_of_registrations(request, response)
