"""The vulnerability gate on manifest reads: `412 PROJECTPOLICYVIOLATION`.

Every GET and HEAD of a manifest, by tag or by digest, passes here after
the caller's pull permission was checked. Two callers pass a closed gate,
each by its own credentials and never by a request header. One is a
scanner with the dedicated `scanner-pull` permission. The other is a
signer with push rights reading a manifest by digest, because it must
read what it signs. Both are logged with who and why.
"""

from __future__ import annotations

import structlog
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from seawall.audit import AuditOperation, record
from seawall.audit.context import audit_context
from seawall.context import CachedManifest, RegistryContext
from seawall.oci.access import PUSH, SCANNER_PULL, Access, context, holds
from seawall.oci.errors import ErrorCode, OciError
from seawall.registry.names import is_digest_reference
from seawall.scan.gate import (
    GateOutcome,
    evaluate,
    evaluate_blob,
    prevent_vul_enabled,
)
from seawall.scan.service import queue_scan

logger = structlog.get_logger(__name__)


async def enforce_gate(
    request: Request, access: Access, reference: str, manifest: CachedManifest
) -> None:
    """Return when the manifest may be served; raise the policy refusal otherwise."""
    registry = context(request)
    outcome = await _outcome(registry, access, manifest)
    if outcome.allowed:
        return
    bypass = await _bypass(request, access, reference)
    if bypass is not None:
        logger.info(
            "vulnerability gate passed",
            user=access.principal.username,
            repository=access.repository,
            digest=manifest.digest,
            reason=bypass,
            policy=outcome.reason,
        )
        return
    if outcome.scan_wanted:
        await run_in_threadpool(
            queue_scan,
            registry.scans,
            registry.db,
            access.repository,
            manifest.digest,
            trigger="first refused pull",
        )
    logger.info(
        "pull refused by the vulnerability gate",
        user=access.principal.username,
        repository=access.repository,
        digest=manifest.digest,
        reason=outcome.reason,
    )
    await run_in_threadpool(
        _audit_refusal, request, registry, access, manifest, outcome
    )
    raise OciError(ErrorCode.PROJECTPOLICYVIOLATION, outcome.message)


async def _outcome(
    registry: RegistryContext, access: Access, manifest: CachedManifest
) -> GateOutcome:
    epoch = registry.epoch.current()
    key = (access.repository, manifest.digest)
    cached = registry.gate.get(key, epoch)
    if cached is not None:
        return cached
    outcome = await run_in_threadpool(
        evaluate,
        registry.db,
        registry.store,
        access.project.name,
        manifest.digest,
        manifest.media_type,
    )
    if outcome.allowlisted:
        logger.info(
            "allowlisted vulnerabilities passed the gate",
            repository=access.repository,
            digest=manifest.digest,
            ids=list(outcome.allowlisted),
        )
    registry.gate.put(key, epoch, outcome)
    return outcome


async def _bypass(request: Request, access: Access, reference: str) -> str | None:
    if await holds(request, access, SCANNER_PULL):
        return "the caller holds scanner-pull"
    if is_digest_reference(reference) and await holds(request, access, PUSH):
        return "a caller with push rights reads a manifest by digest to sign it"
    return None


def _audit_refusal(
    request: Request,
    registry: RegistryContext,
    access: Access,
    manifest: CachedManifest,
    outcome: GateOutcome,
) -> None:
    with registry.db.session() as session:
        record(
            session,
            **audit_context(request, access.principal),
            operation=AuditOperation.PULL,
            resource_type="artifact",
            resource=f"{access.repository}@{manifest.digest}",
            result="denied",
            reason=outcome.reason,
        )


async def enforce_blob_gate(request: Request, access: Access, digest: str) -> None:
    """Refuse a layer or config of an image the gate refuses, to pullers alike."""
    registry = context(request)
    epoch = registry.epoch.current()
    project_key = (access.project.name, "")
    enabled = registry.gate.get(project_key, epoch)
    if enabled is None:
        on = await run_in_threadpool(
            prevent_vul_enabled, registry.db, access.project.name
        )
        enabled = GateOutcome(not on, "project gate state")
        registry.gate.put(project_key, epoch, enabled)
    if enabled.allowed:
        return
    key = (access.repository, f"blob:{digest}")
    outcome = registry.gate.get(key, epoch)
    if outcome is None:
        outcome = await run_in_threadpool(
            evaluate_blob,
            registry.db,
            registry.store,
            access.project.name,
            access.repository,
            digest,
        )
        registry.gate.put(key, epoch, outcome)
    if outcome.allowed:
        return
    if await holds(request, access, SCANNER_PULL) or await holds(request, access, PUSH):
        logger.info(
            "vulnerability gate passed for a blob",
            user=access.principal.username,
            repository=access.repository,
            digest=digest,
            reason="the caller holds scanner-pull or push",
        )
        return
    logger.info(
        "blob read refused by the vulnerability gate",
        user=access.principal.username,
        repository=access.repository,
        digest=digest,
        reason=outcome.reason,
    )
    raise OciError(ErrorCode.PROJECTPOLICYVIOLATION, outcome.message)
