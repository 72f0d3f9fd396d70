"""Run scans: queue them, read the image, match advisories, store the report.

A scan request writes one `ScanReport` row per image in state Pending and
hands the work to a small thread pool in the same process. The row is the
truth: its state moves Pending → Running → Success, Error or Stopped, and a
process that dies mid-scan leaves rows that `recover_interrupted` marks as
errors on the next start.

The built-in scanner reads layers straight from the blob store and keeps
each image's package inventory, so when the advisory database changes a
report is rebuilt from the inventory (`refresh_report`) without reading the
layers again.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO, cast

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from seawall import __version__
from seawall.db import Database
from seawall.db.models import (
    Artifact,
    ImageInventory,
    ProjectMetadata,
    Repository,
    ScannerRegistration,
    ScanReport,
)
from seawall.registry.cache import MetadataEpoch
from seawall.scan.model import Finding, Inventory, Severity
from seawall.scan.reports import GENERIC_REPORT_MIME, summarize
from seawall.scan.targets import ImageTarget, NotScannable, scan_targets
from seawall.settings import Settings
from seawall.storage import BlobStore, parse_digest

logger = structlog.get_logger(__name__)

PENDING = "Pending"
RUNNING = "Running"
SUCCESS = "Success"
ERROR = "Error"
STOPPED = "Stopped"
ACTIVE = frozenset({PENDING, RUNNING})

BUILTIN_URL = "builtin://seawall"
SCANNER_NAME = "Seawall"
SCANNER_VENDOR = "Seawall"

# Vulnerability reports are stored once, in the generic format; both of
# Harbor's report media types are rendered from it on the way out.
REPORT_MIME = GENERIC_REPORT_MIME


class ScanError(Exception):
    """A scan request that cannot be accepted; `status` is the HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class ScanState:
    """The newest report of one image, as the gate and the API read it."""

    status: str
    findings: list[Finding]
    report: ScanReport


@dataclass(frozen=True, slots=True)
class ScanTicket:
    """Scans written as Pending, to start once their transaction commits."""

    jobs: list[tuple[str, str, str, ImageTarget]]

    @property
    def report_ids(self) -> list[str]:
        return [job[0] for job in self.jobs]


def now() -> datetime:
    return datetime.now(UTC)


class ScanService:
    """Queues scans in this process and runs them on a few threads."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        store: BlobStore,
        epoch: MetadataEpoch,
        *,
        external: Callable[
            [ScannerRegistration, str, ImageTarget],
            tuple[list[Finding], tuple[str, str, str]],
        ]
        | None = None,
    ) -> None:
        self._settings = settings
        self._db = db
        self._store = store
        self._epoch = epoch
        self._external = external
        self._pool = ThreadPoolExecutor(
            settings.scan_workers, thread_name_prefix="seawall-scan"
        )

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # Requests -----------------------------------------------------------

    def request(
        self,
        session: Session,
        repository: Repository,
        artifact: Artifact,
        registration: ScannerRegistration,
        *,
        trigger: str,
    ) -> ScanTicket:
        """Write Pending reports for `artifact`; `submit` the ticket after commit.

        Raises `NotScannable` when the artifact contains no image, and
        `ScanError` (409) when a scan of it is already queued or running.
        """
        if registration.disabled:
            raise ScanError(412, f"scanner {registration.name} is deactivated")
        targets = scan_targets(session, self._store, repository, artifact)
        rows: list[ScanReport] = []
        queued: list[ImageTarget] = []
        busy: list[str] = []
        for target in targets:
            row = session.scalars(
                select(ScanReport).where(
                    ScanReport.digest == target.digest,
                    ScanReport.registration_uuid == registration.uuid,
                    ScanReport.mime_type == REPORT_MIME,
                )
            ).one_or_none()
            if row is not None and row.status in ACTIVE and not self._stale(row):
                busy.append(row.status)
                continue
            if row is None:
                row = ScanReport(
                    uuid=str(uuid.uuid4()),
                    digest=target.digest,
                    registration_uuid=registration.uuid,
                    mime_type=REPORT_MIME,
                )
                session.add(row)
            else:
                row.uuid = str(uuid.uuid4())
            row.status = PENDING
            row.status_message = ""
            row.start_time = now()
            row.end_time = None
            row.log = _log_line(
                f"scan of {repository.name}@{target.digest} queued ({trigger})"
            )
            rows.append(row)
            queued.append(target)
        if not rows:
            raise ScanError(409, f"a previous scan process is {busy[0]}")
        session.flush()
        return ScanTicket(
            [
                (row.uuid, registration.uuid, repository.name, target)
                for row, target in zip(rows, queued, strict=True)
            ]
        )

    def submit(self, ticket: ScanTicket) -> None:
        """Start the scans of `ticket`; call after the requesting transaction commits."""
        for job in ticket.jobs:
            self._pool.submit(self._run_safely, *job)

    def stop(self, session: Session, digests: Iterable[str]) -> int:
        """Mark queued or running scans of `digests` stopped; return how many."""
        rows = session.scalars(
            select(ScanReport).where(
                ScanReport.digest.in_(list(digests)),
                ScanReport.status.in_(ACTIVE),
            )
        ).all()
        for row in rows:
            row.status = STOPPED
            row.end_time = now()
            row.log += _log_line("scan stopped on request")
        return len(rows)

    def _stale(self, row: ScanReport) -> bool:
        """Return whether a queued or running scan is older than an hour, so taken as lost."""
        return row.start_time < now() - timedelta(hours=1)

    # Running ------------------------------------------------------------

    def _run_safely(
        self,
        report_uuid: str,
        registration_uuid: str,
        repository: str,
        target: ImageTarget,
    ) -> None:
        from seawall.scan.adapter.client import AdapterError

        try:
            self._run(report_uuid, registration_uuid, repository, target)
        except AdapterError as exc:
            # An adapter that is down or refuses the request is an expected
            # failure, and its message is enough without a traceback.
            logger.warning(
                "scan failed", report=report_uuid, digest=target.digest, error=str(exc)
            )
            self._finish(report_uuid, ERROR, f"scan failed: {exc}", None)
        except Exception as exc:  # a scan must never take the worker down
            logger.exception("scan failed", report=report_uuid, digest=target.digest)
            self._finish(report_uuid, ERROR, f"scan failed: {exc}", None)

    def _run(
        self,
        report_uuid: str,
        registration_uuid: str,
        repository: str,
        target: ImageTarget,
    ) -> None:
        with self._db.session() as session:
            row = session.get(ScanReport, report_uuid)
            if row is None or row.status != PENDING:
                return
            registration = session.get(ScannerRegistration, registration_uuid)
            if registration is None:
                row.status = ERROR
                row.status_message = "the scanner registration was deleted"
                row.end_time = now()
                return
            row.status = RUNNING
            row.start_time = now()
            row.log += _log_line(f"scanning with {registration.name}")
            builtin = registration.url == BUILTIN_URL
            registration_copy = _detached(registration)
        self._epoch.bump()
        started = time.monotonic()
        if builtin:
            findings, generation, notes = self._scan_builtin(target)
            scanner = (SCANNER_NAME, SCANNER_VENDOR, __version__)
        else:
            if self._external is None:
                raise RuntimeError("no client for external scanners is configured")
            findings, scanner = self._external(registration_copy, repository, target)
            generation, notes = 0, []
        # A scan stopped meanwhile keeps its Stopped state: `_finish` only
        # changes a report that is still queued or running.
        elapsed = time.monotonic() - started
        notes.append(f"found {len(findings)} vulnerabilities in {elapsed:.2f} s")
        self._finish(
            report_uuid,
            SUCCESS,
            "",
            findings,
            generation=generation,
            notes=notes,
            scanner=scanner,
        )

    def inventory_of(self, target: ImageTarget) -> Inventory:
        """Return the image's package inventory, read from its layers and stored on first use."""
        from seawall.scan.inventory import LayerBlob, read_inventory

        inventory = self._stored_inventory(target.digest)
        if inventory is not None:
            return inventory
        layers = [
            LayerBlob(layer.digest, layer.media_type, self._opener(layer.digest))
            for layer in target.layers
        ]
        inventory = read_inventory(
            target.digest, layers, max_layer_bytes=self._settings.scan_max_layer_bytes
        )
        self._save_inventory(inventory)
        return inventory

    def _scan_builtin(
        self, target: ImageTarget
    ) -> tuple[list[Finding], int, list[str]]:
        from seawall.vulndb.matching import match_inventory
        from seawall.vulndb.store import current_generation

        inventory = self.inventory_of(target)
        notes = [
            f"inventory of {len(inventory.packages)} packages from "
            f"{len(target.layers)} layers"
        ]
        notes.extend(f"warning: {warning}" for warning in inventory.warnings)
        with self._db.session(read_only=True) as session:
            generation = current_generation(session)
            findings = match_inventory(session, inventory)
        if generation == 0:
            notes.append(NO_ADVISORIES_NOTE)
            logger.warning(
                "scan ran without vulnerability advisories",
                digest=target.digest,
                reason="no import has stored an advisory",
            )
        return findings, generation, notes

    def _opener(self, digest: str) -> Callable[[], BinaryIO]:
        path = self._store.blob_path(parse_digest(digest))
        return lambda: path.open("rb")

    def _stored_inventory(self, digest: str) -> Inventory | None:
        with self._db.session(read_only=True) as session:
            row = session.get(ImageInventory, digest)
            return Inventory.from_json(json.loads(row.document)) if row else None

    def _save_inventory(self, inventory: Inventory) -> None:
        with self._db.session() as session:
            if session.get(ImageInventory, inventory.manifest_digest) is None:
                session.add(
                    ImageInventory(
                        digest=inventory.manifest_digest,
                        document=json.dumps(inventory.to_json()),
                    )
                )

    def _finish(
        self,
        report_uuid: str,
        status: str,
        message: str,
        findings: list[Finding] | None,
        *,
        generation: int = 0,
        notes: list[str] | None = None,
        scanner: tuple[str, str, str] | None = None,
    ) -> None:
        with self._db.session() as session:
            row = session.get(ScanReport, report_uuid)
            if row is None or row.status not in ACTIVE:
                return
            digest = row.digest
            row.status = status
            row.status_message = message
            row.end_time = now()
            for note in notes or []:
                row.log += _log_line(note)
            if message:
                row.log += _log_line(message)
            if scanner is not None:
                row.scanner_name, row.scanner_vendor, row.scanner_version = scanner
            if findings is not None:
                store_findings(row, findings, generation)
        self._epoch.bump()
        details: dict[str, object] = {"report": report_uuid, "digest": digest}
        if findings is not None:
            details["vulnerabilities"] = len(findings)
        if message:
            details["reason"] = message
        logger.info("scan finished", status=status, **details)

    # Reading ------------------------------------------------------------

    def recover_interrupted(self) -> int:
        """Mark scans a dead process left queued or running as errors."""
        with self._db.session() as session:
            rows = session.scalars(
                select(ScanReport).where(ScanReport.status.in_(ACTIVE))
            ).all()
            lost = [row for row in rows if self._stale(row)]
            for row in lost:
                row.status = ERROR
                row.status_message = "the scan was interrupted"
                row.end_time = now()
        return len(lost)


NO_ADVISORIES_NOTE = (
    "warning: no vulnerability advisories are imported, so no package could "
    "match one; run seawall vulndb import, after which the report is rebuilt"
)


def store_findings(row: ScanReport, findings: list[Finding], generation: int) -> None:
    summary = summarize(findings)
    row.total = summary.total
    row.fixable = summary.fixable
    row.severity = summary.severity_label
    row.summary = json.dumps(summary.counts)
    row.advisory_generation = generation
    row.report = json.dumps(
        {
            "generated_at": now().isoformat(),
            "findings": [finding.to_json() for finding in findings],
        }
    )


def report_findings(row: ScanReport) -> list[Finding]:
    if not row.report:
        return []
    document = cast(dict[str, Any], json.loads(row.report))
    return [Finding.from_json(item) for item in document.get("findings", [])]


def refresh_report(session: Session, row: ScanReport) -> bool:
    """Re-match a built-in report whose advisory data has changed since it ran.

    Returns True when the report was rebuilt. Only successful built-in
    reports with a stored inventory are refreshed.
    """
    from seawall.vulndb.matching import match_inventory
    from seawall.vulndb.store import current_generation

    if row.status != SUCCESS or row.mime_type != REPORT_MIME:
        return False
    registration = session.get(ScannerRegistration, row.registration_uuid)
    if registration is None or registration.url != BUILTIN_URL:
        return False  # an external scanner's findings are its own
    generation = current_generation(session)
    if row.advisory_generation >= generation:
        return False
    stored = session.get(ImageInventory, row.digest)
    if stored is None:
        return False
    inventory = Inventory.from_json(json.loads(stored.document))
    findings = match_inventory(session, inventory)
    store_findings(row, findings, generation)
    row.log += _log_line(
        f"re-matched against advisory generation {generation}: "
        f"{len(findings)} vulnerabilities"
    )
    return True


def highest(findings: Iterable[Finding]) -> Severity:
    return max((finding.severity for finding in findings), default=Severity.UNKNOWN)


def _detached(registration: ScannerRegistration) -> ScannerRegistration:
    copy = ScannerRegistration(
        uuid=registration.uuid,
        name=registration.name,
        url=registration.url,
        auth=registration.auth,
        access_credential=registration.access_credential,
        skip_cert_verify=registration.skip_cert_verify,
    )
    return copy


def _log_line(text: str) -> str:
    return f"{now().strftime('%Y-%m-%dT%H:%M:%SZ')} {text}\n"


def queue_scan(
    service: ScanService,
    db: Database,
    repository_name: str,
    digest: str,
    *,
    trigger: str,
    only_auto_scan: bool = False,
) -> list[str]:
    """Queue a scan of one artifact with its project's scanner, if it can be scanned.

    Used by scan on push and by the gate's first refusal: an artifact that
    contains no image, a project without a scanner or a scan already running
    queues nothing and raises nothing.
    """
    from seawall.scan.registrations import scanner_for_project

    if only_auto_scan and not _auto_scan_enabled(db, repository_name):
        return []
    try:
        with db.session() as session:
            repository = session.scalars(
                select(Repository).where(Repository.name == repository_name)
            ).one_or_none()
            if repository is None:
                return []
            artifact = session.scalars(
                select(Artifact).where(
                    Artifact.repository_id == repository.id, Artifact.digest == digest
                )
            ).one_or_none()
            registration = scanner_for_project(session, repository.project_id)
            if artifact is None or registration is None:
                return []

            ticket = service.request(
                session, repository, artifact, registration, trigger=trigger
            )
    except (NotScannable, ScanError) as exc:
        logger.info(
            "scan not queued",
            repository=repository_name,
            digest=digest,
            reason=str(exc),
        )
        return []
    service.submit(ticket)
    return ticket.report_ids


def _auto_scan_enabled(db: Database, repository_name: str) -> bool:
    with db.session(read_only=True) as session:
        value = session.scalar(
            select(ProjectMetadata.value)
            .join(Repository, Repository.project_id == ProjectMetadata.project_id)
            .where(
                Repository.name == repository_name, ProjectMetadata.name == "auto_scan"
            )
        )
    return value == "true"


def refresh_stale_reports(db: Database, epoch: MetadataEpoch, batch: int = 50) -> int:
    """Re-match every built-in report older than the advisory database.

    The gate and the vulnerability report refresh a report when they read
    it; this catches up the rest (listings, the security hub) after an
    import. Returns how many reports were rebuilt.
    """
    from seawall.vulndb.store import current_generation

    with db.session(read_only=True) as session:
        generation = current_generation(session)
        stale = list(
            session.scalars(
                select(ScanReport.uuid)
                .join(
                    ScannerRegistration,
                    ScannerRegistration.uuid == ScanReport.registration_uuid,
                )
                .where(
                    ScannerRegistration.url == BUILTIN_URL,
                    ScanReport.status == SUCCESS,
                    ScanReport.mime_type == REPORT_MIME,
                    ScanReport.advisory_generation < generation,
                )
            )
        )
    refreshed = 0
    for start in range(0, len(stale), batch):
        with db.session() as session:
            for report_uuid in stale[start : start + batch]:
                row = session.get(ScanReport, report_uuid)
                if row is not None and refresh_report(session, row):
                    refreshed += 1
    if refreshed:
        epoch.bump()
        logger.info("reports re-matched", count=refreshed, generation=generation)
    return refreshed
