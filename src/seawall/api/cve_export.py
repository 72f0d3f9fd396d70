"""Harbor's CVE export routes: `/export/cve` and its executions and downloads.

An export runs while the request waits and stores its CSV in the
`cve_exports` row. Each route checks `export-cve:<action>` in every project
of the export, and only the user who asked for an export may read or
download it, system administrators included, as in Harbor.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Header, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from seawall.api.audit import audit_context
from seawall.api.deps import MAX_PROJECT_ID, authenticated, deny, registry_of
from seawall.api.errors import HarborError, bad_request, forbidden, not_found
from seawall.api.projects import harbor_time
from seawall.audit import AuditOperation, record
from seawall.auth import Principal
from seawall.db.models import CveExport, Project
from seawall.policy import Action, Permission, Resource
from seawall.scan import cve_export
from seawall.scan.adapter_metadata import VULNERABILITY_REPORT
from seawall.scan.glob_filter import InvalidGlob, glob_matcher
from seawall.security import check_project, facts_of

logger = structlog.get_logger(__name__)

router = APIRouter()

RESOURCE_TYPE = "export-cve"
SUCCESS = "Success"
ERROR = "Error"
TRIGGER = "MANUAL"
ExecutionId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class ScanDataExportRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    job_name: str = Field("", max_length=255)
    projects: list[int] = Field(default_factory=list)
    labels: list[int] = Field(default_factory=list)
    repositories: str = Field("", max_length=4096)
    cve_ids: str = Field("", alias="cveIds", max_length=65536)
    tags: str = Field("", max_length=4096)


class ScanDataExportJob(BaseModel):
    id: int


class ScanDataExportExecution(BaseModel):
    id: int
    user_id: int | None
    status: str
    trigger: str
    start_time: str
    end_time: str | None
    status_text: str
    user_name: str
    file_present: bool


class ScanDataExportExecutionList(BaseModel):
    items: list[ScanDataExportExecution]


def _check_request(data_type: str | None, body: ScanDataExportRequest) -> None:
    if (data_type or "").strip() != VULNERABILITY_REPORT:
        raise bad_request(f"Unsupported MIME type : {data_type}")
    if not body.projects:
        raise bad_request("criteria is invalid: projects must list one project id")
    if body.labels:
        # TODO: filter by label once artifacts can carry labels. Until then
        # a label filter is rejected instead of matching nothing.
        raise bad_request("label filters are not supported: artifacts have no labels")
    for value in (body.repositories, body.tags, body.cve_ids):
        if " " in value:
            raise bad_request(
                "invalid criteria value, please remove additional spaces for "
                f"input: {value}"
            )
    for pattern in (body.repositories, body.tags):
        try:
            glob_matcher(pattern)
        except InvalidGlob as exc:
            raise bad_request(f"invalid criteria value: {exc}") from exc


async def _require_project(
    request: Request, principal: Principal, project_id: int, action: Action
) -> None:
    """Raise unless `principal` has `export-cve:<action>` in the project.

    A missing project is reported as 404 only to a system administrator.
    """
    registry = registry_of(request)
    permission = Permission(Resource.EXPORT_CVE, action)

    def load() -> Project | None:
        if not 0 < project_id <= MAX_PROJECT_ID:
            return None
        with registry.db.session(read_only=True) as session:
            return session.get(Project, project_id)

    project = await run_in_threadpool(load)
    if project is None:
        if principal.sysadmin:
            raise not_found(f"project {project_id} not found")
        raise deny(principal, f"{principal.username} lacks permission {permission}")
    decision = await check_project(registry, principal, facts_of(project), permission)
    if not decision.allowed:
        logger.info(
            "access denied",
            user=principal.username,
            project=project_id,
            permission=str(permission),
            reason=decision.reason,
        )
        raise deny(principal, decision.reason)


def _criteria(body: ScanDataExportRequest) -> cve_export.ExportCriteria:
    return cve_export.ExportCriteria(
        project_ids=tuple(dict.fromkeys(body.projects)),
        repositories=body.repositories,
        tags=body.tags,
        cve_ids=body.cve_ids,
    )


def _parameters(body: ScanDataExportRequest) -> str:
    return json.dumps(
        {
            "projects": body.projects,
            "labels": body.labels,
            "repositories": body.repositories,
            "cveIds": body.cve_ids,
            "tags": body.tags,
        },
        sort_keys=True,
    )


@router.post("/export/cve", response_model=ScanDataExportJob)
async def export_scan_data(
    request: Request,
    body: ScanDataExportRequest,
    x_scan_data_type: str | None = Header(None, alias="X-Scan-Data-Type"),
    principal: Principal = Depends(authenticated),
) -> ScanDataExportJob:
    """Export the findings of the selected projects as CSV and return the export id."""
    _check_request(x_scan_data_type, body)
    for project_id in dict.fromkeys(body.projects):
        await _require_project(request, principal, project_id, Action.CREATE)
    registry = registry_of(request)
    criteria = _criteria(body)
    context = audit_context(request, principal)
    started = datetime.now(UTC)

    def render() -> str:
        with registry.db.session(read_only=True) as session:
            return cve_export.render_csv(cve_export.export_rows(session, criteria))

    status, status_text, document = SUCCESS, "", None
    try:
        document = await run_in_threadpool(render)
    except Exception:
        logger.exception("cve export failed", user=principal.username)
        status, status_text = (
            ERROR,
            "the export failed, and the registry log has the cause",
        )

    def store() -> int:
        with registry.db.session() as session:
            row = CveExport(
                user_id=principal.user_id,
                username=principal.username,
                job_name=body.job_name,
                status=status,
                status_text=status_text,
                parameters=_parameters(body),
                csv=document,
                start_time=started,
                end_time=datetime.now(UTC),
            )
            session.add(row)
            session.flush()
            record(
                session,
                **context,
                operation=AuditOperation.CREATE,
                resource_type=RESOURCE_TYPE,
                resource=f"export {row.id} of projects {criteria.project_ids}",
                result="success" if status == SUCCESS else "failure",
            )
            return row.id

    return ScanDataExportJob(id=await run_in_threadpool(store))


def _execution_body(row: CveExport) -> ScanDataExportExecution:
    return ScanDataExportExecution(
        id=row.id,
        user_id=row.user_id,
        status=row.status,
        trigger=TRIGGER,
        start_time=harbor_time(row.start_time),
        end_time=harbor_time(row.end_time) if row.end_time else None,
        status_text=row.status_text,
        user_name=row.username,
        file_present=row.csv is not None,
    )


def _project_ids(row: CveExport) -> list[int]:
    try:
        parameters = json.loads(row.parameters or "{}")
    except ValueError:
        return []
    projects = parameters.get("projects") if isinstance(parameters, dict) else None
    return [p for p in projects or [] if isinstance(p, int)]


async def _load_own(
    request: Request, principal: Principal, execution_id: int
) -> CveExport:
    """Return an export the caller created and may still read, else raise."""
    registry = registry_of(request)

    def load() -> CveExport | None:
        with registry.db.session(read_only=True) as session:
            return session.get(CveExport, execution_id)

    row = await run_in_threadpool(load)
    if row is None:
        raise not_found(f"execution with id: {execution_id} not found")
    for project_id in _project_ids(row):
        await _require_project(request, principal, project_id, Action.READ)
    if row.username != principal.username:
        raise forbidden(
            f"export {execution_id} belongs to another user, and only its creator may "
            "read it"
        )
    return row


@router.get(
    "/export/cve/execution/{execution_id}", response_model=ScanDataExportExecution
)
async def get_scan_data_export_execution(
    request: Request,
    execution_id: ExecutionId,
    principal: Principal = Depends(authenticated),
) -> ScanDataExportExecution:
    """Return the status of one of the caller's exports."""
    return _execution_body(await _load_own(request, principal, execution_id))


@router.get("/export/cve/executions", response_model=ScanDataExportExecutionList)
async def list_scan_data_export_executions(
    request: Request, principal: Principal = Depends(authenticated)
) -> ScanDataExportExecutionList:
    """List the caller's exports, newest first.

    Harbor answers 403 for the whole list when the caller has lost access to
    one export's project. Seawall leaves such exports out instead.
    """
    registry = registry_of(request)

    def load() -> list[CveExport]:
        with registry.db.session(read_only=True) as session:
            return list(
                session.scalars(
                    select(CveExport)
                    .where(CveExport.username == principal.username)
                    .order_by(CveExport.id.desc())
                )
            )

    items = []
    for row in await run_in_threadpool(load):
        if await _readable(request, principal, row):
            items.append(_execution_body(row))
    return ScanDataExportExecutionList(items=items)


async def _readable(request: Request, principal: Principal, row: CveExport) -> bool:
    try:
        for project_id in _project_ids(row):
            await _require_project(request, principal, project_id, Action.READ)
    except HarborError:
        return False
    return True


@router.get("/export/cve/download/{execution_id}", response_class=Response)
async def download_scan_data(
    request: Request,
    execution_id: ExecutionId,
    principal: Principal = Depends(authenticated),
) -> Response:
    """Return the CSV of one of the caller's exports as an attachment."""
    row = await _load_own(request, principal, execution_id)
    if row.csv is None:
        raise not_found(f"export {execution_id} has no CSV file (status {row.status})")
    filename = f"scandata_export_{execution_id}.csv"
    return Response(
        content=row.csv.encode(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
