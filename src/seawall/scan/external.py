"""Scans by an external adapter that speaks the pluggable scanner API.

The adapter pulls the image from this registry itself. It gets a bearer
token signed by the registry for one repository, with `pull` and
`scanner-pull`, valid for `SCAN_DEADLINE_SECONDS`. `scanner-pull` lets it
read the image through the vulnerability gate. The token's subject is
`scanner:<registration name>`, and no robot account is created for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from seawall.auth.tokens import TokenService
from seawall.db import Database
from seawall.db.models import ScannerRegistration
from seawall.policy import ProjectFacts
from seawall.registry.names import project_of
from seawall.registry.repositories import find_project
from seawall.scan.model import Finding
from seawall.scan.reports import (
    GENERIC_REPORT_MIME,
    HARBOR_REPORT_MIME,
    findings_from_report,
)
from seawall.scan.targets import ImageTarget
from seawall.settings import Settings

# How long an external scan may take, polling included.
SCAN_DEADLINE_SECONDS = 30 * 60

# The findings, and the scanner's (name, vendor, version) from the adapter's
# metadata, which the stored report and `scan_overview` show.
ExternalScan = Callable[
    [ScannerRegistration, str, ImageTarget],
    tuple[list[Finding], tuple[str, str, str]],
]


def external_scanner(
    settings: Settings, db: Database, tokens: TokenService
) -> ExternalScan:
    """Return the function the scan service calls for a non-built-in scanner."""

    def scan(
        registration: ScannerRegistration, repository: str, target: ImageTarget
    ) -> tuple[list[Finding], tuple[str, str, str]]:
        from seawall.scan.adapter.client import AdapterClient
        from seawall.scan.adapter.spec import ScanRequest

        with db.session(read_only=True) as session:
            project = find_project(session, project_of(repository))
            if project is None:
                raise RuntimeError(f"project of {repository} no longer exists")
            key = ProjectFacts(
                project.id, project.name, project.public, project.created_at.timestamp()
            ).key
        token, _ = tokens.issue(
            f"scanner:{registration.name}",
            [
                {
                    "type": "repository",
                    "name": repository,
                    "actions": ["pull", "scanner-pull"],
                    "project": key,
                }
            ],
            SCAN_DEADLINE_SECONDS,
        )
        with AdapterClient(
            registration.url,
            auth=registration.auth,
            credential=registration.access_credential,
            skip_cert_verify=registration.skip_cert_verify,
        ) as client:
            metadata = client.metadata()
            mime = _report_mime(metadata.produces)
            scan_id = client.scan(
                ScanRequest.for_artifact(
                    registry_url=registry_url(settings),
                    authorization=f"Bearer {token}",
                    repository=repository,
                    digest=target.digest,
                    mime_type=target.media_type,
                    report_mime=mime,
                )
            )
            document = client.report(
                scan_id, mime, poll_until=time.monotonic() + SCAN_DEADLINE_SECONDS
            )
        scanner = metadata.scanner
        return (
            findings_from_report(mime, document),
            (scanner.name, scanner.vendor, scanner.version),
        )

    return scan


def registry_url(settings: Settings) -> str:
    # NOTE: without `external_url`, the adapter gets the listen address, which
    # is unusable from another host when it is 0.0.0.0 or 127.0.0.1. The
    # registration's `use_internal_addr` flag is stored but not read here.
    return (settings.external_url or f"http://{settings.listen}").rstrip("/")


def _report_mime(produced: list[str]) -> str:
    for mime in (GENERIC_REPORT_MIME, HARBOR_REPORT_MIME):
        if mime in produced:
            return mime
    raise RuntimeError("the scanner produces no vulnerability report Seawall reads")
