"""Harbor-compatible "scan all" routes: schedule, run now, stop and metrics."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from seawall.api.audit import audit_context
from seawall.api.deps import registry_of, system_guard
from seawall.api.errors import HarborCode, HarborError, bad_request
from seawall.audit import AuditOperation, record
from seawall.auth.principal import Principal
from seawall.scan import scan_all
from seawall.scan.registrations import default_registration
from seawall.scan.service import ScanError

router = APIRouter()

SCAN_ALL = "scan-all"


class ScheduleObj(BaseModel):
    type: str
    cron: str = ""
    next_scheduled_time: datetime | None = None


class ScheduleBody(BaseModel):
    schedule: dict[str, Any] | None = None
    parameters: dict[str, Any] | None = None


class ScanAllSchedule(BaseModel):
    schedule: ScheduleObj


class Stats(BaseModel):
    total: int
    completed: int
    metrics: dict[str, int]
    ongoing: bool
    trigger: str | None = None


def _require_default_scanner(request: Request) -> None:
    registry = registry_of(request)
    with registry.db.session(read_only=True) as session:
        if default_registration(session) is None:
            raise HarborError(
                HarborCode.PRECONDITION, "no default scanner is configured"
            )


@router.get("/system/scanAll/schedule", response_model=ScanAllSchedule)
async def get_schedule(
    request: Request,
    principal: Principal = Depends(system_guard(SCAN_ALL, "read")),
) -> ScanAllSchedule:
    """Return the scan all schedule, of type "None" when there is none."""
    schedule = await run_in_threadpool(scan_all.load_schedule, registry_of(request).db)
    return ScanAllSchedule(
        schedule=ScheduleObj(
            type=schedule.type,
            cron=schedule.cron,
            next_scheduled_time=schedule.next_scheduled_time,
        )
    )


def _parse(body: ScheduleBody) -> scan_all.Schedule:
    try:
        return scan_all.parse_schedule(body.schedule)
    except scan_all.ScheduleInvalid as exc:
        raise bad_request(str(exc)) from exc


def _audit(request: Request, principal: Principal, schedule_type: str) -> None:
    registry = registry_of(request)
    with registry.db.session() as session:
        record(
            session,
            **audit_context(request, principal),
            operation=AuditOperation.UPDATE,
            resource_type="scan-all",
            resource=schedule_type,
        )


def _start_now(request: Request, principal: Principal) -> None:
    registry = registry_of(request)
    _require_default_scanner(request)
    try:
        scan_all.start(registry.scans, registry.db, "Manual")
    except ScanError as exc:
        raise HarborError(HarborCode.CONFLICT, exc.message) from exc
    _audit(request, principal, "Manual")


def _create(
    request: Request, principal: Principal, schedule: scan_all.Schedule
) -> None:
    registry = registry_of(request)
    _require_default_scanner(request)
    if scan_all.load_schedule(registry.db).type != "None":
        raise HarborError(
            HarborCode.PRECONDITION,
            "a scan all schedule already exists; change it with PUT, or set its "
            'type to "None" with PUT before creating another',
        )
    scan_all.save_schedule(registry.db, schedule)
    _audit(request, principal, schedule.type)


def _update(
    request: Request, principal: Principal, schedule: scan_all.Schedule
) -> None:
    registry = registry_of(request)
    if schedule.type != "None":
        _require_default_scanner(request)
    scan_all.save_schedule(registry.db, schedule)
    _audit(request, principal, schedule.type)


@router.post("/system/scanAll/schedule", status_code=201, response_class=Response)
async def create_schedule(
    request: Request,
    body: ScheduleBody,
    principal: Principal = Depends(system_guard(SCAN_ALL, "create")),
) -> Response:
    """Create the schedule, or with type "Manual" scan every artifact now.

    As in Harbor, type "None" changes nothing here, and a second schedule
    is rejected with 412 while one exists.
    """
    schedule = _parse(body)
    if schedule.type == "Manual":
        await run_in_threadpool(_start_now, request, principal)
    elif schedule.type != "None":
        await run_in_threadpool(_create, request, principal, schedule)
    registry_of(request).metadata_changed()
    return Response(status_code=201)


@router.put("/system/scanAll/schedule", response_class=Response)
async def update_schedule(
    request: Request,
    body: ScheduleBody,
    principal: Principal = Depends(system_guard(SCAN_ALL, "update")),
) -> Response:
    """Replace the schedule; type "None" removes it."""
    schedule = _parse(body)
    if schedule.type == "Manual":
        raise bad_request(
            'schedule type "Manual" cannot be stored; POST it to '
            "/system/scanAll/schedule to scan every artifact now"
        )
    await run_in_threadpool(_update, request, principal, schedule)
    registry_of(request).metadata_changed()
    return Response(status_code=200)


@router.post("/system/scanAll/stop", status_code=202, response_class=Response)
async def stop_scan_all(
    request: Request,
    principal: Principal = Depends(system_guard(SCAN_ALL, "stop")),
) -> Response:
    """Stop the running scan all execution."""
    registry = registry_of(request)
    stopped = await run_in_threadpool(scan_all.stop, registry.scans, registry.db)
    if not stopped:
        raise bad_request("no scan all job is found; start one first")
    registry.metadata_changed()
    return Response(status_code=202)


@router.get(
    "/scans/all/metrics", response_model=Stats, response_model_exclude_none=True
)
async def all_metrics(
    request: Request,
    principal: Principal = Depends(system_guard(SCAN_ALL, "read")),
) -> dict[str, Any]:
    """Progress of the newest scan all execution."""
    return await run_in_threadpool(scan_all.metrics, registry_of(request).db)


@router.get(
    "/scans/schedule/metrics", response_model=Stats, response_model_exclude_none=True
)
async def schedule_metrics(
    request: Request,
    principal: Principal = Depends(system_guard(SCAN_ALL, "read")),
) -> dict[str, Any]:
    """Progress of the newest scheduled scan all execution."""
    return await run_in_threadpool(
        scan_all.metrics, registry_of(request).db, "Schedule"
    )
