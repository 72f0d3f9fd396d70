"""The vulnerability gate's facts: gather them, ask the policy, cache the decision.

The decision itself is `seawall.policy.vulnerability.decide`; this module
loads what it needs (the project's policy, the image's newest report, the
allowlist in force) and returns a `GateOutcome` that the `/v2/` layer turns
into a reply. Outcomes are cached per repository and digest until the
metadata epoch moves, which every scan, allowlist, policy and advisory
database change does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from seawall.db import Database
from seawall.db.models import (
    Artifact,
    ArtifactReference,
    Project,
    Repository,
    ScannerRegistration,
    ScanReport,
)
from seawall.policy.vulnerability import GatePolicy, ScanState, decide
from seawall.registry import media_types
from seawall.registry.projects import metadata_of
from seawall.registry.repositories import find_project
from seawall.scan.allowlists import effective_allowlist
from seawall.scan.registrations import is_builtin, scanner_for_project
from seawall.scan.service import REPORT_MIME, refresh_report, report_findings
from seawall.scan.targets import NotScannable, is_image, read_manifest
from seawall.storage import BlobStore


@dataclass(frozen=True, slots=True)
class GateOutcome:
    allowed: bool
    reason: str
    message: str = ""
    # Set when the image was never scanned and the project scans on push:
    # the caller queues a scan so a later pull can be decided.
    scan_wanted: bool = False
    allowlisted: tuple[str, ...] = field(default=())


OFF = GateOutcome(True, "the project does not prevent vulnerable images")


def gate_policy(project: Project) -> GatePolicy:
    return GatePolicy.from_metadata(metadata_of(project))


def evaluate(
    db: Database,
    store: BlobStore,
    project_name: str,
    digest: str,
    media_type: str,
) -> GateOutcome:
    """Decide whether the image `digest` of `project_name` may be pulled."""
    with db.session(read_only=True) as session:
        project = find_project(session, project_name)
        if project is None:
            return GateOutcome(False, "the project does not exist")
        policy = gate_policy(project)
        if not policy.prevent_vul:
            return OFF
        if media_type in media_types.INDEXES:
            return GateOutcome(
                True, "an index is not an image; its images are checked when pulled"
            )
        try:
            if not is_image(read_manifest(store, digest)):
                return GateOutcome(True, "the artifact is not a container image")
        except (NotScannable, ValueError):
            return GateOutcome(True, "the artifact is not a container image")
        registration = scanner_for_project(session, project.id)
        has_scanner = registration is not None
        row = _newest_report(
            session, digest, registration.uuid if registration else None
        )
        report_uuid = row.uuid if row is not None else None
        stale = row is not None and _needs_refresh(session, row)
    if stale:
        with db.session() as session:
            fresh = session.get(ScanReport, report_uuid)
            if fresh is not None:
                refresh_report(session, fresh)
    with db.session(read_only=True) as session:
        project = find_project(session, project_name)
        if project is None:
            return GateOutcome(False, "the project does not exist")
        row = session.get(ScanReport, report_uuid) if report_uuid else None
        state = ScanState(
            status=row.status if row is not None else None,
            findings=report_findings(row) if row is not None else [],
            advisories_loaded=row is None or _matched_advisories(session, row),
        )
        allowlist = effective_allowlist(session, project)
        decision = decide(policy, state, allowlist, now=int(time.time()))
        auto_scan = project.metadata_value("auto_scan") == "true"
    return GateOutcome(
        decision.allowed,
        decision.reason,
        decision.message,
        scan_wanted=report_uuid is None and auto_scan and has_scanner,
        allowlisted=tuple(finding.id for finding in decision.allowlisted),
    )


def _newest_report(
    session: Session, digest: str, registration_uuid: str | None
) -> ScanReport | None:
    statement = select(ScanReport).where(
        ScanReport.digest == digest, ScanReport.mime_type == REPORT_MIME
    )
    if registration_uuid is not None:
        statement = statement.where(ScanReport.registration_uuid == registration_uuid)
    return session.scalars(statement.order_by(ScanReport.start_time.desc())).first()


def _needs_refresh(session: Session, row: ScanReport) -> bool:
    from seawall.vulndb.store import current_generation

    return row.status == "Success" and row.advisory_generation < current_generation(
        session
    )


def _matched_advisories(session: Session, row: ScanReport) -> bool:
    """Return whether the report's findings were matched against any advisory.

    A built-in report stores the advisory generation it was matched at, and
    generation 0 means no advisory was imported. An external scanner keeps
    its own advisory data, so its reports count as matched.
    """
    if row.advisory_generation > 0:
        return True
    registration = session.get(ScannerRegistration, row.registration_uuid)
    # NOTE: a report whose registration was deleted counts as matched, because
    # the row does not record whether the built-in scanner wrote it.
    return registration is None or not is_builtin(registration)


def prevent_vul_enabled(db: Database, project_name: str) -> bool:
    with db.session(read_only=True) as session:
        project = find_project(session, project_name)
        return project is not None and gate_policy(project).prevent_vul


def evaluate_blob(
    db: Database, store: BlobStore, project_name: str, repository: str, digest: str
) -> GateOutcome:
    """Decide whether a blob may be read when its project prevents vulnerable images.

    A blob is served when at least one manifest of the repository that
    references it may be pulled, or when no manifest references it yet.
    Otherwise the reader gets the refusal of the image it belongs to, so
    layers of a refused image cannot be fetched one by one. A manifest is
    stored as a blob of its repository too: reading it by the blob route
    gets the same decision as reading it by digest from the manifest route.
    """
    with db.session(read_only=True) as session:
        manifest_media_type = session.scalar(
            select(Artifact.media_type)
            .join(Repository, Repository.id == Artifact.repository_id)
            .where(Repository.name == repository, Artifact.digest == digest)
        )
        referrers = session.execute(
            select(Artifact.digest, Artifact.media_type)
            .join(ArtifactReference, ArtifactReference.artifact_id == Artifact.id)
            .join(Repository, Repository.id == Artifact.repository_id)
            .where(Repository.name == repository, ArtifactReference.digest == digest)
        ).all()
    if manifest_media_type is not None:
        return evaluate(db, store, project_name, digest, manifest_media_type)
    if not referrers:
        return GateOutcome(True, "no manifest references the blob")
    refusal: GateOutcome | None = None
    for manifest_digest, media_type in referrers:
        outcome = evaluate(db, store, project_name, manifest_digest, media_type)
        if outcome.allowed:
            return GateOutcome(
                True, f"the blob belongs to {manifest_digest}, which may be pulled"
            )
        refusal = refusal or outcome
    assert refusal is not None
    return GateOutcome(
        False,
        f"every image using the blob is refused: {refusal.reason}",
        refusal.message,
    )
