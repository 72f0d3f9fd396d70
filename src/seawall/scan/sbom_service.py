"""Generate an image's SBOMs and keep them as accessories of the image.

Each image gets two documents, SPDX JSON and CycloneDX JSON, written from
its package inventory and stored as OCI artifacts whose `subject` is the
image, so the referrers API lists them. One `ScanReport` row per image,
with the SBOM report media type, records the state and the accessories'
digests for Harbor's `sbom_overview`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from seawall import __version__
from seawall.db.models import Artifact, Project, Repository, ScanReport
from seawall.registry.errors import ManifestNotFound
from seawall.registry.manifest_parser import Descriptor
from seawall.registry.manifests import delete_manifest
from seawall.scan.reports import SBOM_REPORT_MIME
from seawall.scan.sbom import (
    CYCLONEDX_MEDIA_TYPE,
    SPDX_MEDIA_TYPE,
    cyclonedx_document,
    spdx_document,
)
from seawall.scan.sbom_accessory import CREATED_ANNOTATION, store_sbom
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

FORMATS = {
    SPDX_MEDIA_TYPE: spdx_document,
    CYCLONEDX_MEDIA_TYPE: cyclonedx_document,
}


def generate_sbom(
    registry: RegistryContext, repository_name: str, digest: str
) -> list[str]:
    """Write the SBOMs of an image, or of every image of an index.

    Returns the digests of the stored accessory manifests. Raises
    `NotScannable` when the artifact holds no image.
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
            for media_type, write in FORMATS.items():
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


@dataclass(frozen=True, slots=True)
class Previous:
    """Where the last generation of an image's SBOMs stored its accessories."""

    repository: str | None
    accessories: tuple[str, ...]


def _previous(row: ScanReport) -> Previous:
    if row.status != SUCCESS or not row.report:
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
    """Generate SBOMs after a push when the project asks for it."""
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


def sbom_overviews(session: Any, digests: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Harbor's `sbom_overview` by image digest, for images that have one."""
    if not digests:
        return {}
    result: dict[str, dict[str, Any]] = {}
    rows = session.scalars(
        select(ScanReport).where(
            ScanReport.digest.in_(list(digests)),
            ScanReport.mime_type == SBOM_REPORT_MIME,
        )
    )
    for row in rows:
        report = json.loads(row.report) if row.report else {}
        end = row.end_time
        result[row.digest] = {
            "start_time": row.start_time.isoformat(),
            "end_time": end.isoformat() if end else None,
            "scan_status": row.status,
            "sbom_digest": report.get("sbom_digest", ""),
            "report_id": row.uuid,
            "duration": int((end - row.start_time).total_seconds()) if end else 0,
            "scanner": {
                "name": row.scanner_name,
                "vendor": row.scanner_vendor,
                "version": row.scanner_version,
            },
        }
    return result


def sbom_accessory(session: Any, digest: str, media_type: str) -> str | None:
    """The digest of the stored SBOM accessory of `media_type` for an image."""
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
