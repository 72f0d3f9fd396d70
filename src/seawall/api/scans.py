"""Harbor-compatible scan routes of an artifact: scan, stop, log and reports."""

from __future__ import annotations

import json
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Body, Request, Response
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from seawall.api.artifacts import ARTIFACT_PATH
from seawall.api.audit import audit_context
from seawall.api.deps import ProjectAccess, registry_of
from seawall.api.errors import HarborCode, HarborError, bad_request, not_found
from seawall.api.repositories import repository_name_of, require
from seawall.audit import AuditOperation, record
from seawall.context import RegistryContext
from seawall.db.models import Artifact, Repository, ScannerRegistration, ScanReport
from seawall.policy import Action, Permission, Resource
from seawall.policy.access import evaluate
from seawall.registry import artifacts
from seawall.scan.overview import accepted_report_mimes, targets_of
from seawall.scan.registrations import scanner_for_project
from seawall.scan.reports import ScannerInfo, build_vulnerability_report
from seawall.scan.sbom_service import sbom_accessory
from seawall.scan.sbom_types import CYCLONEDX_MEDIA_TYPE, SPDX_MEDIA_TYPE
from seawall.scan.service import (
    REPORT_MIME,
    SUCCESS,
    ScanError,
    ScanTicket,
    refresh_report,
    report_findings,
)
from seawall.scan.targets import NotScannable, is_image, read_manifest
from seawall.storage import parse_digest

logger = structlog.get_logger(__name__)

router = APIRouter()

CreateScan = Annotated[ProjectAccess, require(Resource.SCAN, Action.CREATE)]
StopScan = Annotated[ProjectAccess, require(Resource.SCAN, Action.STOP)]
ReadScan = Annotated[ProjectAccess, require(Resource.SCAN, Action.READ)]
CreateSbom = Annotated[ProjectAccess, require(Resource.SBOM, Action.CREATE)]
ReadAddition = Annotated[
    ProjectAccess, require(Resource.ARTIFACT_ADDITION, Action.READ)
]

VULNERABILITY = "vulnerability"
SBOM = "sbom"


class ScanType(BaseModel):
    scan_type: str = VULNERABILITY


def _scan_type(body: ScanType | None) -> str:
    kind = body.scan_type if body is not None else VULNERABILITY
    if kind not in (VULNERABILITY, SBOM):
        raise bad_request(f"scan type {kind} is not supported")
    return kind


def _artifact(
    session: Session, access: ProjectAccess, repository_name: str, reference: str
) -> tuple[Repository, Artifact]:
    repository = artifacts.require_repository_in(
        session, access.project.project_id, repository_name
    )
    return repository, artifacts.resolve_artifact(session, repository, reference)


def _registration(session: Session, project_id: int) -> ScannerRegistration:
    registration = scanner_for_project(session, project_id)
    if registration is None:
        raise HarborError(
            HarborCode.PRECONDITION, f"no available scanner for project: {project_id}"
        )
    return registration


@router.post(f"{ARTIFACT_PATH}/scan", status_code=202, response_class=Response)
async def scan_artifact(
    request: Request,
    access: CreateScan,
    repository_name: str,
    reference: str,
    body: Annotated[ScanType | None, Body()] = None,
) -> Response:
    """Scan an artifact: an image, or every image of an index."""
    registry = registry_of(request)
    name = repository_name_of(access, repository_name)
    kind = _scan_type(body)
    if kind == SBOM:
        return await _generate_sbom(request, registry, access, name, reference)
    actor = audit_context(request, access.principal)

    def queue() -> ScanTicket:
        with registry.db.session() as session:
            repository, artifact = _artifact(session, access, name, reference)
            registration = _registration(session, access.project.project_id)
            try:
                ticket = registry.scans.request(
                    session, repository, artifact, registration, trigger="manual"
                )
            except NotScannable as exc:
                raise bad_request(
                    f"the configured scanner {registration.name} does not support "
                    f"scanning artifact with mime type {artifact.media_type}: {exc}"
                ) from exc
            except ScanError as exc:
                raise HarborError(_code(exc.status), exc.message) from exc
            record(
                session,
                **actor,
                operation=AuditOperation.CREATE,
                resource_type="scan",
                resource=f"{name}@{artifact.digest}",
            )
            return ticket

    ticket = await run_in_threadpool(queue)
    registry.scans.submit(ticket)
    registry.metadata_changed()
    return Response(status_code=202)


async def _generate_sbom(
    request: Request,
    registry: RegistryContext,
    access: ProjectAccess,
    name: str,
    reference: str,
) -> Response:
    from seawall.scan.sbom_service import generate_sbom

    decision = evaluate(
        access.principal,
        access.project,
        access.roles,
        Permission(Resource.SBOM, Action.CREATE),
    )
    if not decision.allowed:
        logger.info(
            "access denied", user=access.principal.username, reason=decision.reason
        )
        raise HarborError(HarborCode.FORBIDDEN, decision.reason)
    actor = audit_context(request, access.principal)

    def generate() -> None:
        with registry.db.session(read_only=True) as session:
            _, artifact = _artifact(session, access, name, reference)
            _registration(session, access.project.project_id)
            digest = artifact.digest
        try:
            generate_sbom(registry, name, digest)
        except NotScannable as exc:
            raise bad_request(str(exc)) from exc
        with registry.db.session() as session:
            record(
                session,
                **actor,
                operation=AuditOperation.CREATE,
                resource_type="sbom",
                resource=f"{name}@{digest}",
            )

    await run_in_threadpool(generate)
    registry.metadata_changed()
    return Response(status_code=202)


def _code(status: int) -> HarborCode:
    return {409: HarborCode.CONFLICT, 412: HarborCode.PRECONDITION}.get(
        status, HarborCode.BAD_REQUEST
    )


@router.post(f"{ARTIFACT_PATH}/scan/stop", status_code=202, response_class=Response)
async def stop_scan(
    request: Request,
    access: StopScan,
    repository_name: str,
    reference: str,
    body: Annotated[ScanType | None, Body()] = None,
) -> Response:
    """Stop the queued or running scans of an artifact."""
    registry = registry_of(request)
    name = repository_name_of(access, repository_name)
    _scan_type(body)
    actor = audit_context(request, access.principal)

    def stop() -> None:
        with registry.db.session() as session:
            _, artifact = _artifact(session, access, name, reference)
            (targets,) = targets_of(session, [artifact])
            stopped = registry.scans.stop(session, targets.digests)
            if stopped == 0:
                raise bad_request(f"no scan job for artifact digest={artifact.digest}")
            record(
                session,
                **actor,
                operation=AuditOperation.UPDATE,
                resource_type="scan",
                resource=f"{name}@{artifact.digest}",
                reason="stopped",
            )

    await run_in_threadpool(stop)
    registry.metadata_changed()
    return Response(status_code=202)


@router.get(f"{ARTIFACT_PATH}/scan/{{report_id}}/log", response_class=Response)
async def scan_log(
    request: Request,
    access: ReadScan,
    repository_name: str,
    reference: str,
    report_id: str,
) -> Response:
    """Return the log of one scan report as plain text."""
    registry = registry_of(request)
    name = repository_name_of(access, repository_name)

    def load() -> str:
        with registry.db.session(read_only=True) as session:
            _, artifact = _artifact(session, access, name, reference)
            (targets,) = targets_of(session, [artifact])
            row = session.get(ScanReport, report_id)
            if row is None or row.digest not in targets.digests:
                raise not_found(f"report with uuid {report_id} does not exist")
            return row.log

    return Response(await run_in_threadpool(load), media_type="text/plain")


@router.get(f"{ARTIFACT_PATH}/additions/vulnerabilities")
async def vulnerabilities(
    request: Request, access: ReadAddition, repository_name: str, reference: str
) -> dict[str, Any]:
    """Return the vulnerability report of an artifact in the first accepted media type.

    Allowlisted vulnerabilities stay in the report: an allowlist changes
    what the pull gate decides, not what the scanner found.
    """
    registry = registry_of(request)
    name = repository_name_of(access, repository_name)
    mimes = accepted_report_mimes(request.headers.get("x-accept-vulnerabilities"))

    def load() -> dict[str, Any]:
        with registry.db.session() as session:
            _, artifact = _artifact(session, access, name, reference)
            (targets,) = targets_of(session, [artifact])
            registration = scanner_for_project(session, access.project.project_id)
            rows = session.scalars(
                select(ScanReport).where(
                    ScanReport.digest.in_(targets.digests),
                    ScanReport.mime_type == REPORT_MIME,
                    ScanReport.status == SUCCESS,
                    ScanReport.registration_uuid
                    == (registration.uuid if registration else ""),
                )
            ).all()
            if not rows or not mimes:
                return {}
            findings = []
            for row in rows:
                refresh_report(session, row)
                for finding in report_findings(row):
                    finding.layer_digest = finding.layer_digest or ""
                    findings.append((row.digest, finding))
            newest = max(rows, key=lambda row: row.start_time)
            scanner = ScannerInfo(
                newest.scanner_name, newest.scanner_vendor, newest.scanner_version
            )
            document = build_vulnerability_report(
                mimes[0],
                [finding for _, finding in findings],
                scanner=scanner,
                artifact_digest=artifact.digest,
                generated_at=newest.end_time or newest.start_time,
            )
            digests_by_id: dict[tuple[str, str], list[str]] = {}
            for digest, finding in findings:
                digests_by_id.setdefault((finding.id, finding.package), []).append(
                    digest
                )
            for item in document.get("vulnerabilities", []):
                item["artifact_digests"] = sorted(
                    set(digests_by_id.get((item.get("id"), item.get("package")), []))
                )
            return {mimes[0]: document}

    return await run_in_threadpool(load)


@router.get(f"{ARTIFACT_PATH}/additions/sbom")
async def sbom_addition(
    request: Request, access: ReadAddition, repository_name: str, reference: str
) -> Response:
    """Return the SBOM of an image, or the document an SBOM accessory contains.

    For an image, SPDX JSON is returned unless the `Accept` header requests
    CycloneDX JSON; 404 when no SBOM was generated.
    """
    registry = registry_of(request)
    name = repository_name_of(access, repository_name)
    wanted = (
        CYCLONEDX_MEDIA_TYPE
        if CYCLONEDX_MEDIA_TYPE in request.headers.get("accept", "")
        else SPDX_MEDIA_TYPE
    )

    def load() -> tuple[bytes, str]:
        with registry.db.session(read_only=True) as session:
            repository, artifact = _artifact(session, access, name, reference)
            digest = artifact.digest
            if artifact.artifact_type not in (SPDX_MEDIA_TYPE, CYCLONEDX_MEDIA_TYPE):
                found = sbom_accessory(session, digest, wanted)
                # The report is kept per image digest, so its accessory may sit
                # in another repository of the same image, which this caller
                # may not be allowed to read.
                if found is None or not _in_repository(session, repository, found):
                    raise not_found(f"no SBOM was generated for {name}@{digest}")
                digest = found
        manifest = read_manifest(registry.store, digest)
        layers = manifest.get("layers") or []
        if not layers or not isinstance(layers[0], dict):
            raise not_found(f"{name}@{digest} contains no SBOM document")
        layer = layers[0]
        body = registry.store.read_blob(parse_digest(str(layer.get("digest"))))
        return body, str(layer.get("mediaType", "application/json"))

    body, media_type = await run_in_threadpool(load)
    return Response(body, media_type=media_type)


def _in_repository(session: Session, repository: Repository, digest: str) -> bool:
    found = session.scalar(
        select(Artifact.id).where(
            Artifact.repository_id == repository.id, Artifact.digest == digest
        )
    )
    return found is not None


@router.get(f"{ARTIFACT_PATH}/additions/build_history")
async def build_history(
    request: Request, access: ReadAddition, repository_name: str, reference: str
) -> list[dict[str, Any]]:
    """Return the `history` of an image's config, as Harbor's build history addition."""
    registry = registry_of(request)
    name = repository_name_of(access, repository_name)

    def load() -> list[dict[str, Any]]:
        with registry.db.session(read_only=True) as session:
            _, artifact = _artifact(session, access, name, reference)
            digest = artifact.digest
        manifest = read_manifest(registry.store, digest)
        if not is_image(manifest):
            raise not_found(f"{name}@{digest} is not an image and has no build history")
        config = json.loads(
            registry.store.read_blob(parse_digest(str(manifest["config"]["digest"])))
        )
        history = config.get("history") if isinstance(config, dict) else None
        return [item for item in history or [] if isinstance(item, dict)]

    return await run_in_threadpool(load)
