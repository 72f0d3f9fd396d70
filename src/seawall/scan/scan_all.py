"""Scan every artifact: on request, or on the schedule a system administrator sets.

The schedule is kept in the configuration table in Harbor's shape,
`{"type": "Hourly"|"Daily"|"Weekly"|"Custom"|"None", "cron": "..."}`, with
Harbor's six-field cron (seconds first). An execution records the reports
it queued, so its metrics are read from their live states.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from croniter import croniter
from sqlalchemy import select

from seawall.db import Database
from seawall.db.models import (
    Artifact,
    ArtifactReference,
    Configuration,
    Repository,
    ScanAllExecution,
    ScanReport,
)
from seawall.scan.registrations import scanner_for_project
from seawall.scan.service import (
    ACTIVE,
    ERROR,
    PENDING,
    RUNNING,
    STOPPED,
    SUCCESS,
    ScanError,
    ScanService,
    ScanTicket,
    now,
)
from seawall.scan.targets import NotScannable

logger = structlog.get_logger(__name__)

SCHEDULE_KEY = "scan_all_schedule"
PRESETS = {
    "Hourly": "0 0 * * * *",
    "Daily": "0 0 0 * * *",
    "Weekly": "0 0 0 * * 0",
}
SCHEDULE_TYPES = frozenset({*PRESETS, "Custom", "Manual", "None"})
# The keys of Harbor's `Stats.metrics`, each present even when zero.
TASK_STATES = (PENDING, RUNNING, SUCCESS, ERROR, STOPPED)


class ScheduleInvalid(ValueError):
    """A schedule body that cannot be stored."""


@dataclass(frozen=True, slots=True)
class Schedule:
    type: str
    cron: str
    next_scheduled_time: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "cron": self.cron}


def parse_schedule(data: object) -> Schedule:
    if not isinstance(data, dict):
        raise ScheduleInvalid("schedule must be an object with type and cron")
    kind = data.get("type")
    cron = data.get("cron") or ""
    if kind not in SCHEDULE_TYPES or not isinstance(cron, str):
        raise ScheduleInvalid(f"invalid schedule type: {kind}")
    if kind in PRESETS:
        cron = PRESETS[kind]
    if kind == "Custom":
        if not valid_cron(cron):
            raise ScheduleInvalid(f"invalid cron string for scheduled scan all: {cron}")
    elif kind in ("None", "Manual"):
        cron = ""
    return Schedule(kind, cron)


def valid_cron(cron: str) -> bool:
    fields = cron.split()
    return len(fields) == 6 and croniter.is_valid(_five_plus_seconds(cron))


def _five_plus_seconds(cron: str) -> str:
    """Harbor's cron puts seconds first; croniter takes them last."""
    seconds, *rest = cron.split()
    return " ".join([*rest, seconds])


def next_run(cron: str, after: datetime) -> datetime:
    return croniter(_five_plus_seconds(cron), after).get_next(datetime)


def load_schedule(db: Database) -> Schedule:
    with db.session(read_only=True) as session:
        row = session.get(Configuration, SCHEDULE_KEY)
        if row is None:
            return Schedule("None", "")
        schedule = parse_schedule(json.loads(row.value))
    if schedule.cron:
        return Schedule(schedule.type, schedule.cron, next_run(schedule.cron, now()))
    return schedule


def save_schedule(db: Database, schedule: Schedule) -> None:
    with db.session() as session:
        row = session.get(Configuration, SCHEDULE_KEY)
        value = json.dumps(schedule.to_json())
        if row is None:
            session.add(Configuration(key=SCHEDULE_KEY, value=value))
        else:
            row.value = value


def running_execution(db: Database) -> ScanAllExecution | None:
    with db.session(read_only=True) as session:
        execution = _newest(session)
        if execution is None or _status(session, execution)[0] != RUNNING:
            return None
        return execution


def start(service: ScanService, db: Database, trigger: str) -> int:
    """Queue a scan of every image and index; return the execution id.

    Raises `ScanError` (409) while another execution is running.
    """
    if running_execution(db) is not None:
        raise ScanError(409, "a previous scan all job aren't finished yet")
    tickets: list[ScanTicket] = []
    with db.session() as session:
        execution = ScanAllExecution(trigger=trigger, status=RUNNING, start_time=now())
        session.add(execution)
        children = set(
            session.scalars(
                select(ArtifactReference.digest).where(
                    ArtifactReference.is_manifest.is_(True)
                )
            )
        )
        rows = session.execute(
            select(Artifact, Repository).join(
                Repository, Repository.id == Artifact.repository_id
            )
        ).all()
        for artifact, repository in rows:
            if artifact.digest in children:
                continue  # scanned as part of its index
            registration = scanner_for_project(session, repository.project_id)
            if registration is None or registration.disabled:
                continue
            try:
                tickets.append(
                    service.request(
                        session, repository, artifact, registration, trigger=trigger
                    )
                )
            except (NotScannable, ScanError):
                continue
        reports = [uid for ticket in tickets for uid in ticket.report_ids]
        execution.total = len(reports)
        execution.metrics = json.dumps({"reports": reports})
        session.flush()
        execution_id = execution.id
    for ticket in tickets:
        service.submit(ticket)
    logger.info("scan all started", execution=execution_id, scans=len(reports))
    return execution_id


def stop(service: ScanService, db: Database) -> bool:
    """Stop the scans of the newest execution; False when there is no execution.

    As in Harbor, stopping an execution that already finished is accepted
    and changes nothing.
    """
    with db.session() as session:
        execution = _newest(session)
        if execution is None:
            return False
        if _status(session, execution)[0] != RUNNING:
            return True
        reports = json.loads(execution.metrics).get("reports", [])
        digests = session.scalars(
            select(ScanReport.digest).where(
                ScanReport.uuid.in_(reports), ScanReport.status.in_(ACTIVE)
            )
        ).all()
        service.stop(session, digests)
        execution.status = STOPPED
        execution.end_time = now()
        logger.info("scan all stopped", execution=execution.id, scans=len(digests))
        return True


def metrics(db: Database, trigger: str | None = None) -> dict[str, Any]:
    """Harbor's `Stats` of the newest execution (of `trigger`, when given)."""
    with db.session(read_only=True) as session:
        execution = _newest(session, trigger)
        if execution is None:
            return {"total": 0, "completed": 0, "metrics": {}, "ongoing": False}
        status, counts = _status(session, execution)
        active = sum(counts[state] for state in ACTIVE)
        # NOTE: a later scan of the same image replaces a report of this
        # execution, so the replaced one is missing from `counts`. It had
        # finished before it could be replaced, so it counts as completed,
        # but under no status.
        completed = execution.total - active
        return {
            "total": execution.total,
            "completed": completed,
            "metrics": counts,
            "ongoing": status == RUNNING,
            "trigger": execution.trigger,
        }


def _newest(session: Any, trigger: str | None = None) -> ScanAllExecution | None:
    statement = select(ScanAllExecution)
    if trigger is not None:
        statement = statement.where(ScanAllExecution.trigger == trigger)
    result: ScanAllExecution | None = session.scalars(
        statement.order_by(ScanAllExecution.id.desc())
    ).first()
    return result


def _status(session: Any, execution: ScanAllExecution) -> tuple[str, dict[str, int]]:
    """Return the execution's state and the number of its reports in each state."""
    reports = json.loads(execution.metrics).get("reports", [])
    counts = dict.fromkeys(TASK_STATES, 0)
    if reports:
        for status in session.scalars(
            select(ScanReport.status).where(ScanReport.uuid.in_(reports))
        ):
            counts[status] = counts.get(status, 0) + 1
    if execution.status == STOPPED:
        return STOPPED, counts
    if any(counts[status] for status in ACTIVE):
        return RUNNING, counts
    return (ERROR if counts[ERROR] and not counts[SUCCESS] else SUCCESS), counts


def run_if_due(service: ScanService, db: Database, last_check: datetime) -> None:
    """Start a scheduled execution when the schedule fell due since `last_check`."""
    schedule = load_schedule(db)
    if not schedule.cron:
        return
    due = next_run(schedule.cron, last_check)
    if due <= datetime.now(UTC):
        try:
            start(service, db, "Schedule")
        except ScanError as exc:
            logger.info("scheduled scan all skipped", reason=exc.message)
