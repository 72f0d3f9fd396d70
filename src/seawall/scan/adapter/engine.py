"""Scan jobs of the scanner adapter: a bounded in-memory store and a thread pool.

A job pulls the image named in the scan request, reads its package
inventory and matches it against the advisories in the adapter's own
database. Results live only in memory: a finished job is dropped after
`JobLimits.result_seconds`, and the oldest finished jobs are dropped first
when the store is full, so a client must fetch its report within that time.
"""

from __future__ import annotations

import enum
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import structlog
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from seawall.db import Database
from seawall.db.models import AdvisoryImport
from seawall.scan.adapter.puller import PulledImage, PullError, PullLimits, pull_image
from seawall.scan.adapter.spec import ScanRequest
from seawall.scan.inventory import LayerBlob, read_inventory
from seawall.scan.layers import LayerError
from seawall.scan.model import Finding, Inventory
from seawall.vulndb.matching import match_inventory

logger = structlog.get_logger(__name__)


class JobStatus(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class TooManyScans(Exception):
    """The store already contains the maximum number of unfinished scans."""


@dataclass(frozen=True, slots=True)
class JobLimits:
    """How many jobs are kept, and for how long a finished job is kept."""

    max_pending: int = 256
    max_jobs: int = 4096
    result_seconds: float = 3600.0


@dataclass(slots=True)
class ScanJob:
    """One accepted scan request and, once finished, its findings or error."""

    id: str
    request: ScanRequest
    status: JobStatus = JobStatus.PENDING
    findings: list[Finding] = field(default_factory=list)
    error: str = ""
    finished_at: datetime | None = None
    finished_monotonic: float = 0.0
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)


class JobStore:
    """Thread-safe jobs by id, bounded in count and in age."""

    def __init__(self, limits: JobLimits) -> None:
        self._limits = limits
        self._jobs: OrderedDict[str, ScanJob] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, request: ScanRequest) -> ScanJob:
        """Create a pending job; raise `TooManyScans` when too many are pending."""
        with self._lock:
            self._evict()
            pending = sum(
                1 for job in self._jobs.values() if job.status == JobStatus.PENDING
            )
            if (
                pending >= self._limits.max_pending
                or len(self._jobs) >= self._limits.max_jobs
            ):
                raise TooManyScans
            job = ScanJob(id=str(uuid.uuid4()), request=request)
            self._jobs[job.id] = job
            return job

    def get(self, job_id: str) -> ScanJob | None:
        with self._lock:
            self._evict()
            return self._jobs.get(job_id)

    def finish(self, job: ScanJob, findings: list[Finding] | None, error: str) -> None:
        with self._lock:
            job.findings = findings or []
            job.error = error
            job.status = JobStatus.FAILED if error else JobStatus.DONE
            job.finished_at = datetime.now(UTC)
            job.finished_monotonic = time.monotonic()

    def _evict(self) -> None:
        now = time.monotonic()
        finished = [
            job for job in self._jobs.values() if job.status != JobStatus.PENDING
        ]
        for job in finished:
            if now - job.finished_monotonic > self._limits.result_seconds:
                del self._jobs[job.id]
        excess = len(self._jobs) - self._limits.max_jobs + 1
        for job in finished:
            if excess <= 0:
                break
            if job.id in self._jobs:
                del self._jobs[job.id]
                excess -= 1


class ScanEngine:
    """Run scan requests in a thread pool against one advisory database."""

    def __init__(
        self,
        database: Database,
        *,
        workers: int,
        pull_limits: PullLimits,
        max_layer_bytes: int,
        job_limits: JobLimits | None = None,
    ) -> None:
        self.database = database
        self.jobs = JobStore(job_limits or JobLimits())
        self._pull_limits = pull_limits
        self._max_layer_bytes = max_layer_bytes
        self._executor = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="seawall-scan"
        )

    def submit(self, request: ScanRequest) -> ScanJob:
        """Queue a scan and return its pending job; raises `TooManyScans`."""
        job = self.jobs.add(request)
        self._executor.submit(self._run, job)
        logger.info(
            "scan accepted",
            scan_id=job.id,
            repository=request.artifact.repository,
            digest=request.artifact.digest,
        )
        return job

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.database.dispose()

    def database_updated_at(self) -> datetime | None:
        """Return the time of the newest advisory import, None before the first."""
        with self.database.session(read_only=True) as session:
            newest: datetime | None = session.scalar(
                select(func.max(AdvisoryImport.imported_at))
            )
        if newest is not None and newest.tzinfo is None:
            newest = newest.replace(tzinfo=UTC)
        return newest

    def _run(self, job: ScanJob) -> None:
        artifact = job.request.artifact
        try:
            findings = self._scan(job.request)
        except PullError as exc:
            logger.warning(
                "scan failed", scan_id=job.id, digest=artifact.digest, error=str(exc)
            )
            self.jobs.finish(job, None, f"pulling the image failed: {exc}")
        except LayerError as exc:
            logger.warning(
                "scan failed", scan_id=job.id, digest=artifact.digest, error=str(exc)
            )
            self.jobs.finish(job, None, f"reading the image layers failed: {exc}")
        except SQLAlchemyError as exc:
            logger.exception("scan failed", scan_id=job.id, digest=artifact.digest)
            self.jobs.finish(
                job, None, f"reading the advisory database failed: {type(exc).__name__}"
            )
        except Exception as exc:
            logger.exception("scan failed", scan_id=job.id, digest=artifact.digest)
            self.jobs.finish(
                job,
                None,
                f"scan failed unexpectedly ({type(exc).__name__}); see the adapter log",
            )
        else:
            logger.info(
                "scan finished",
                scan_id=job.id,
                digest=artifact.digest,
                findings=len(findings),
            )
            self.jobs.finish(job, findings, "")

    def _scan(self, request: ScanRequest) -> list[Finding]:
        with pull_image(
            request.registry.url,
            request.registry.authorization,
            request.artifact.repository,
            request.artifact.digest,
            limits=self._pull_limits,
        ) as image:
            inventory = self._read_inventory(image)
        return self._match(inventory)

    def _read_inventory(self, image: PulledImage) -> Inventory:
        layers = [
            LayerBlob(
                digest=layer.digest,
                media_type=layer.media_type,
                open=_opener(layer.path),
            )
            for layer in image.layers
        ]
        return read_inventory(
            image.digest, layers, max_layer_bytes=self._max_layer_bytes
        )

    def _match(self, inventory: Inventory) -> list[Finding]:
        with self.database.session(read_only=True) as session:
            return list(match_inventory(session, inventory))


def _opener(path: Path) -> Callable[[], BinaryIO]:
    def open_layer() -> BinaryIO:
        return path.open("rb")

    return open_layer
