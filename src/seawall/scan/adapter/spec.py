"""Media types and request and response models of Harbor's scanner adapter API.

The API is the Harbor pluggable scanner specification, versions 1.1 and
1.2 (`api/spec/scanner-adapter-openapi-v1.2.yaml` in the
goharbor/pluggable-scanner-spec repository). Harbor is the client: it reads
`GET /metadata`, sends `POST /scan`, then polls
`GET /scan/{id}/report` until it receives 200 or an error. Every path is
relative to `<adapter url>/api/v1`.

Models ignore fields they do not know, so adapters written to a later
version of the specification still validate.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

API_PREFIX = "/api/v1"

METADATA_MIME = "application/vnd.scanner.adapter.metadata+json; version=1.1"
SCAN_REQUEST_MIME = "application/vnd.scanner.adapter.scan.request+json; version=1.1"
SCAN_RESPONSE_MIME = "application/vnd.scanner.adapter.scan.response+json; version=1.0"
ERROR_MIME = "application/vnd.scanner.adapter.error+json; version=1.0"

DOCKER_MANIFEST_MIME = "application/vnd.docker.distribution.manifest.v2+json"
OCI_MANIFEST_MIME = "application/vnd.oci.image.manifest.v1+json"
IMAGE_MANIFEST_MIMES = (OCI_MANIFEST_MIME, DOCKER_MANIFEST_MIME)
DOCKER_MANIFEST_LIST_MIME = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_INDEX_MIME = "application/vnd.oci.image.index.v1+json"
INDEX_MIMES = (OCI_INDEX_MIME, DOCKER_MANIFEST_LIST_MIME)

# The API key header that Harbor sends for a registration with auth "APIKey".
API_KEY_HEADER = "X-ScannerAdapter-API-Key"
REFRESH_AFTER_HEADER = "Refresh-After"

SCANNER_TYPE_PROPERTY = "harbor.scanner-adapter/scanner-type"
DATABASE_UPDATED_PROPERTY = "harbor.scanner-adapter/vulnerability-database-updated-at"

VULNERABILITY = "vulnerability"
SBOM = "sbom"

# Repository names as the OCI distribution specification allows them.
REPOSITORY_PATTERN = re.compile(
    r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*"
)
DIGEST_PATTERN = re.compile(r"sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Scanner(_Model):
    """Name, vendor and version of the scanner behind an adapter."""

    name: str = ""
    vendor: str = ""
    version: str = ""


class ScannerCapability(_Model):
    """Artifact media types that an adapter reads, and report types it writes.

    A capability without `type` is a vulnerability capability, as the
    specification defines for adapters written before version 1.2.
    """

    type: str = VULNERABILITY
    consumes_mime_types: list[str]
    produces_mime_types: list[str]
    additional_attributes: dict[str, Any] | None = None

    @field_validator("type", mode="before")
    @classmethod
    def _default_type(cls, value: Any) -> Any:
        return VULNERABILITY if value is None or value == "" else value


class ScannerAdapterMetadata(_Model):
    """The `GET /metadata` document."""

    scanner: Scanner
    capabilities: list[ScannerCapability]
    properties: dict[str, str] = Field(default_factory=dict)

    @property
    def produces(self) -> list[str]:
        """Report media types of the vulnerability capabilities, in the adapter's order."""
        return [
            mime
            for capability in self.capabilities
            if capability.type == VULNERABILITY
            for mime in capability.produces_mime_types
        ]


class Registry(_Model):
    """Where the adapter pulls the artifact from, and the `Authorization` value to send."""

    url: str = Field(min_length=1)
    authorization: str = Field(min_length=1)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not re.fullmatch(r"https?://[^\s/?#@]+(/[^\s?#]*)?", value):
            raise ValueError(
                "must be an http or https URL without credentials, query or fragment"
            )
        return value.rstrip("/")


class Artifact(_Model):
    """The artifact to scan: repository and manifest digest, tag and type if known."""

    repository: str = Field(min_length=1, max_length=255)
    digest: str
    tag: str = ""
    mime_type: str = ""

    @field_validator("repository")
    @classmethod
    def _check_repository(cls, value: str) -> str:
        if not REPOSITORY_PATTERN.fullmatch(value):
            raise ValueError("is not a valid repository name")
        return value

    @field_validator("digest")
    @classmethod
    def _check_digest(cls, value: str) -> str:
        if not DIGEST_PATTERN.fullmatch(value):
            raise ValueError(
                "must be sha256:<64 hex digits> or sha512:<128 hex digits>"
            )
        return value


class EnabledCapability(_Model):
    """One capability the client wants for this scan (specification version 1.2)."""

    type: Literal["vulnerability", "sbom"]
    produces_mime_types: list[str] | None = None
    parameters: dict[str, Any] | None = None


class ScanRequest(_Model):
    """The `POST /scan` body."""

    registry: Registry
    artifact: Artifact
    enabled_capabilities: list[EnabledCapability] | None = None

    @classmethod
    def for_artifact(
        cls,
        *,
        registry_url: str,
        authorization: str,
        repository: str,
        digest: str,
        mime_type: str = "",
        report_mime: str | None = None,
    ) -> ScanRequest:
        """Build a vulnerability scan request, optionally for one report type only."""
        enabled = None
        if report_mime:
            enabled = [
                EnabledCapability(
                    type="vulnerability", produces_mime_types=[report_mime]
                )
            ]
        return cls(
            registry=Registry(url=registry_url, authorization=authorization),
            artifact=Artifact(
                repository=repository, digest=digest, mime_type=mime_type
            ),
            enabled_capabilities=enabled,
        )


class ScanResponse(_Model):
    """The `202 Accepted` body of `POST /scan`."""

    id: str = Field(min_length=1)


class ErrorDetail(_Model):
    message: str = ""


class ErrorResponse(_Model):
    """The error body of every operation: `{"error": {"message": ...}}`."""

    error: ErrorDetail = Field(default_factory=ErrorDetail)
