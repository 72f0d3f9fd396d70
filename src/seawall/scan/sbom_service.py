"""Generate an image's SBOMs and keep them as accessories of the image.

Each image gets two documents, SPDX JSON and CycloneDX JSON, written from
its package inventory and stored as OCI artifacts whose `subject` is the
image, so the referrers API lists them. One `ScanReport` row per image,
with the SBOM report media type, records the state and the accessories'
digests for Harbor's `sbom_overview`. A new generation deletes the
accessories that the last one stored in the same repository.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from seawall import __version__
from seawall.db.models import Artifact, Project, Repository, ScanReport
from seawall.registry.errors import ManifestNotFound
from seawall.registry.manifest_parser import Descriptor
from seawall.registry.manifests import delete_manifest
from seawall.scan.model import utc_text
from seawall.scan.reports import SBOM_REPORT_MIME
from seawall.scan.sbom_accessory import CREATED_ANNOTATION, store_sbom
from seawall.scan.sbom_types import CYCLONEDX_MEDIA_TYPE, SPDX_MEDIA_TYPE
from seawall.scan.service import (
    ERROR,
    RUNNING,
    SCANNER_NAME,
    SCANNER_VENDOR,
    SUCCESS,
    now,
)
from seawall.scan.targets import ImageTarget, NotScannable, scan_targets
from seawall.storage import parse_digest

if TYPE_CHECKING:
    from seawall.context import RegistryContext

logger = structlog.get_logger(__name__)


def _writers() -> dict[str, Callable[..., bytes]]:
    """Return the document writers by media type, loading the SBOM libraries on first use."""
    from seawall.scan import sbom

    return {
        SPDX_MEDIA_TYPE: sbom.spdx_document,
        CYCLONEDX_MEDIA_TYPE: sbom.cyclonedx_document,
    }


@dataclass(frozen=True, slots=True)
class Previous:
    """The repository and accessory digests of an image's last SBOM generation."""

    repository: str | None
    accessories: tuple[str, ...]


def generate_sbom(
    registry: RegistryContext, repository_name: str, digest: str
) -> list[str]:
    """Write the SBOMs of an image, or of every image of an index.

    Returns the digests of the stored accessory manifests. Raises
    `NotScannable` when the artifact contains no image.
    """
    from seawall.scan.registrations import scanner_for_project

    with registry.db.session(read_only=True) as session:
        repository = session.scalars(
            select(Repository).where(Repository.name == repository_name)
        ).one()
        artifact = session.scalars(
            select(Artifact).where(
                Artifact.repository_id == repository.id, Artifact.digest == digest
            )
        ).one()
        targets = scan_targets(session, registry.store, repository, artifact)
        registration = scanner_for_project(session, repository.project_id)
        if registration is None:
            raise NotScannable("no scanner is available to read the image's packages")
        registration_uuid = registration.uuid
    stored: list[str] = []
    for target in targets:
        stored.extend(
            _generate_one(registry, repository_name, target, registration_uuid)
        )
    registry.metadata_changed()
    return stored


def _generate_one(
    registry: RegistryContext,
    repository_name: str,
    target: ImageTarget,
    registration_uuid: str,
) -> list[str]:
    report_uuid, previous = _start(registry, target.digest, registration_uuid)
    try:
        inventory = registry.scans.inventory_of(target)
        created = now().replace(microsecond=0)
        subject = Descriptor(
            target.media_type,
            parse_digest(target.digest),
            registry.store.blob_size(parse_digest(target.digest)) or 0,
        )
        accessories: dict[str, str] = {}
        with registry.db.session() as session:
            for media_type, write in _writers().items():
                document = write(
                    inventory,
                    image_name=repository_name,
                    image_digest=target.digest,
                    created=created,
                )
                accessories[media_type] = store_sbom(
                    session,
                    registry.store,
                    repository_name=repository_name,
                    subject=subject,
                    document=document,
                    document_media_type=media_type,
                    annotations={CREATED_ANNOTATION: created.isoformat()},
                )
            replaced = _delete_replaced(
                session, repository_name, previous, set(accessories.values())
            )
            row = session.get(ScanReport, report_uuid)
            if row is not None:
                row.status = SUCCESS
                row.end_time = now()
                row.report = json.dumps(
                    {
                        "sbom_digest": accessories[SPDX_MEDIA_TYPE],
                        "accessories": accessories,
                        "repository": repository_name,
                        "packages": len(inventory.packages),
                    }
                )
                row.log += f"stored SBOMs {', '.join(accessories.values())}\n"
                if replaced:
                    row.log += f"deleted replaced SBOMs {', '.join(replaced)}\n"
        logger.info("sbom stored", repository=repository_name, digest=target.digest)
        return list(accessories.values())
    except Exception as exc:
        with registry.db.session() as session:
            row = session.get(ScanReport, report_uuid)
            if row is not None:
                row.status = ERROR
                row.status_message = f"SBOM generation failed: {exc}"
                row.end_time = now()
        raise


def _previous(row: ScanReport) -> Previous:
    # A failed generation leaves the report of the last successful one.
    if not row.report:
        return Previous(None, ())
    report = json.loads(row.report)
    repository = report.get("repository")
    accessories = report.get("accessories") or {}
    return Previous(
        repository if isinstance(repository, str) else None,
        tuple(str(digest) for digest in accessories.values()),
    )


def _delete_replaced(
    session: Session, repository_name: str, previous: Previous, kept: set[str]
) -> list[str]:
    """Delete the SBOM accessories an earlier generation stored in this repository.

    Without this, every generation would add two more referrers to the
    image. Accessories stored in another repository of the same image stay.
    """
    if previous.repository != repository_name:
        return []
    deleted = []
    for digest in previous.accessories:
        if digest in kept:
            continue  # the same document again, so the same manifest
        try:
            delete_manifest(session, repository_name, digest)
        except ManifestNotFound:
            continue  # deleted by a client already
        deleted.append(digest)
    return deleted


def _start(
    registry: RegistryContext, digest: str, registration_uuid: str
) -> tuple[str, Previous]:
    """Mark the image's SBOM report Running; return its id and the last result."""
    previous = Previous(None, ())
    with registry.db.session() as session:
        row = session.scalars(
            select(ScanReport).where(
                ScanReport.digest == digest,
                ScanReport.registration_uuid == registration_uuid,
                ScanReport.mime_type == SBOM_REPORT_MIME,
            )
        ).one_or_none()
        if row is None:
            row = ScanReport(
                uuid=str(uuid.uuid4()),
                digest=digest,
                registration_uuid=registration_uuid,
                mime_type=SBOM_REPORT_MIME,
            )
            session.add(row)
        else:
            previous = _previous(row)
            row.uuid = str(uuid.uuid4())
        row.status = RUNNING
        row.status_message = ""
        row.start_time = now()
        row.end_time = None
        row.log = ""
        row.scanner_name = SCANNER_NAME
        row.scanner_vendor = SCANNER_VENDOR
        row.scanner_version = __version__
        return row.uuid, previous


def sbom_on_push(registry: RegistryContext, repository_name: str, digest: str) -> None:
    """Generate SBOMs after a push when the project requests it."""
    with registry.db.session(read_only=True) as session:
        project = session.scalars(
            select(Project)
            .join(Repository, Repository.project_id == Project.id)
            .where(Repository.name == repository_name)
        ).one_or_none()
        if project is None or project.metadata_value("auto_sbom_generation") != "true":
            return
    try:
        generate_sbom(registry, repository_name, digest)
    except NotScannable as exc:
        logger.info("sbom not generated", repository=repository_name, reason=str(exc))


def sbom_overviews(
    session: Any, repository_id: int, digests: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Harbor's `sbom_overview` by image digest, for images of one repository.

    The SBOM accessories stored in the repository are the truth: one SBOM
    row per image records the newest generation in any repository, so its
    `sbom_digest` is used only when that accessory is in this repository.
    """
    if not digests:
        return {}
    stored = {
        subject: (digest, push_time)
        for subject, digest, push_time in session.execute(
            select(Artifact.subject_digest, Artifact.digest, Artifact.push_time).where(
                Artifact.repository_id == repository_id,
                Artifact.subject_digest.in_(list(digests)),
                Artifact.artifact_type == SPDX_MEDIA_TYPE,
            )
        )
    }
    result: dict[str, dict[str, Any]] = {}
    rows = session.scalars(
        select(ScanReport).where(
            ScanReport.digest.in_(list(digests)),
            ScanReport.mime_type == SBOM_REPORT_MIME,
        )
    )
    for row in rows:
        report = json.loads(row.report) if row.report else {}
        accessory = stored.get(row.digest)
        if row.status == SUCCESS and (
            accessory is None or report.get("sbom_digest") != accessory[0]
        ):
            if accessory is None:
                continue  # generated for the same image in another repository
            result[row.digest] = _stored_overview(row, accessory[0], accessory[1])
            continue
        end = row.end_time
        result[row.digest] = {
            "start_time": utc_text(row.start_time),
            "end_time": utc_text(end) if end else None,
            "scan_status": row.status,
            "sbom_digest": report.get("sbom_digest", "") if accessory else "",
            "report_id": row.uuid,
            "duration": int((end - row.start_time).total_seconds()) if end else 0,
            "scanner": _scanner(row),
        }
    return result


def _stored_overview(row: ScanReport, digest: str, pushed: datetime) -> dict[str, Any]:
    return {
        "start_time": utc_text(pushed),
        "end_time": utc_text(pushed),
        "scan_status": SUCCESS,
        "sbom_digest": digest,
        "report_id": row.uuid,
        "duration": 0,
        "scanner": _scanner(row),
    }


def _scanner(row: ScanReport) -> dict[str, str]:
    return {
        "name": row.scanner_name,
        "vendor": row.scanner_vendor,
        "version": row.scanner_version,
    }


def sbom_accessory(session: Any, digest: str, media_type: str) -> str | None:
    """Return the digest of the stored SBOM accessory of `media_type` for an image."""
    row = session.scalars(
        select(ScanReport).where(
            ScanReport.digest == digest,
            ScanReport.mime_type == SBOM_REPORT_MIME,
            ScanReport.status == SUCCESS,
        )
    ).first()
    if row is None or not row.report:
        return None
    found: str | None = json.loads(row.report).get("accessories", {}).get(media_type)
    return found
