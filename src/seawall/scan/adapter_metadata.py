"""Scanner adapter metadata: Seawall's own, and an external adapter's over HTTP.

The metadata follows Harbor's pluggable scanner API: a `scanner`
object (name, vendor, version), a list of `capabilities` (what manifest
media types it consumes and what report media types it produces) and
free-form string `properties`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog
from sqlalchemy.orm import Session

from seawall import __version__
from seawall.registry import media_types
from seawall.scan import registrations

logger = structlog.get_logger(__name__)

VULNERABILITY_REPORT = "application/vnd.security.vulnerability.report; version=1.1"
HARBOR_VULNERABILITY_REPORT = (
    "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
)
SBOM_REPORT = "application/vnd.security.sbom.report+json; version=1.0"

# Property names of Harbor's pluggable scanner API, which Harbor's UI shows.
DATABASE_UPDATED_AT = "harbor.scanner-adapter/vulnerability-database-updated-at"
SCANNER_TYPE = "harbor.scanner-adapter/scanner-type"

PING_TIMEOUT_SECONDS = 10.0


class AdapterUnavailable(Exception):
    """The adapter could not be reached or sent invalid metadata."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Capability:
    type: str  # "vulnerability" or "sbom"
    consumes_mime_types: tuple[str, ...]
    produces_mime_types: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AdapterMetadata:
    name: str
    vendor: str
    version: str
    capabilities: tuple[Capability, ...]
    properties: dict[str, str] = field(default_factory=dict)


_IMAGE_MANIFESTS = (media_types.OCI_MANIFEST, media_types.DOCKER_MANIFEST)

BUILTIN_CAPABILITIES = (
    Capability(
        "vulnerability",
        _IMAGE_MANIFESTS,
        (VULNERABILITY_REPORT, HARBOR_VULNERABILITY_REPORT),
    ),
    Capability("sbom", _IMAGE_MANIFESTS, (SBOM_REPORT,)),
)


def builtin_metadata(session: Session) -> AdapterMetadata:
    """Return the metadata of the built-in scanner, with the advisory import time."""
    properties = {SCANNER_TYPE: "os-package-vulnerability"}
    from seawall.vulndb.store import import_history

    imports = import_history(session)
    if imports:
        newest = max(entry.imported_at for entry in imports)
        properties[DATABASE_UPDATED_AT] = newest.isoformat()
    return AdapterMetadata(
        name=registrations.BUILTIN_NAME,
        vendor="Seawall",
        version=__version__,
        capabilities=BUILTIN_CAPABILITIES,
        properties=properties,
    )


def fetch_metadata(
    url: str, *, auth: str, credential: str, skip_cert_verify: bool
) -> AdapterMetadata:
    """Read an external adapter's metadata and check that Seawall can use it.

    Raises `AdapterUnavailable` when the adapter cannot be reached, returns
    an error, or sends metadata without a usable vulnerability capability.
    """
    from seawall.scan.adapter.client import AdapterClient, AdapterError

    try:
        with AdapterClient(
            url,
            auth=auth,
            credential=credential,
            skip_cert_verify=skip_cert_verify,
            timeout=PING_TIMEOUT_SECONDS,
        ) as client:
            found = client.metadata()
    except AdapterError as exc:
        logger.info("scanner ping failed", url=url, error=str(exc))
        raise AdapterUnavailable(
            f"failed to ping scanner adapter at {url}: {exc}"
        ) from exc
    return AdapterMetadata(
        name=found.scanner.name,
        vendor=found.scanner.vendor,
        version=found.scanner.version,
        capabilities=tuple(
            Capability(
                capability.type,
                tuple(capability.consumes_mime_types),
                tuple(capability.produces_mime_types),
            )
            for capability in found.capabilities
        ),
        properties=dict(found.properties),
    )
