"""Request and response bodies of the scanner routes, in Harbor's field names."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from seawall import __version__
from seawall.api.projects import harbor_time
from seawall.db.models import ScannerRegistration as RegistrationRow
from seawall.scan import adapter_metadata as metadata
from seawall.scan import registrations


class ScannerRegistrationReq(BaseModel):
    name: str = Field(description="The name of this registration")
    url: str = Field(description="The base URL of the scanner adapter")
    description: str = ""
    auth: str = Field(
        "",
        description='"", "Basic", "Bearer" or "X-ScannerAdapter-API-Key" ("APIKey")',
    )
    access_credential: str = Field(
        "", description="The credential sent with each request to the adapter"
    )
    skip_certVerify: bool = False  # Harbor's field name
    use_internal_addr: bool = False
    disabled: bool = False

    def settings(self) -> registrations.RegistrationSettings:
        return registrations.RegistrationSettings(
            name=self.name,
            url=self.url,
            description=self.description,
            auth=self.auth,
            access_credential=self.access_credential,
            skip_cert_verify=self.skip_certVerify,
            use_internal_addr=self.use_internal_addr,
            disabled=self.disabled,
        )


class ScannerRegistrationSettings(BaseModel):
    name: str
    url: str
    auth: str = ""
    access_credential: str = ""


class IsDefault(BaseModel):
    is_default: bool = False


class ProjectScanner(BaseModel):
    uuid: str = Field(description="The identifier of the scanner registration")


class ScannerRegistration(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    uuid: str
    name: str
    description: str
    url: str
    disabled: bool
    is_default: bool
    auth: str
    access_credential: str = Field(
        "", description="Always empty: stored credentials are never returned"
    )
    skip_certVerify: bool  # Harbor's field name
    use_internal_addr: bool
    create_time: str
    update_time: str
    adapter: str | None = None
    vendor: str | None = None
    version: str | None = None
    health: str | None = None
    capabilities: dict[str, bool] | None = None


class Scanner(BaseModel):
    name: str
    vendor: str
    version: str


class ScannerCapability(BaseModel):
    type: str
    consumes_mime_types: list[str]
    produces_mime_types: list[str]


class ScannerAdapterMetadata(BaseModel):
    scanner: Scanner
    capabilities: list[ScannerCapability]
    properties: dict[str, str]


@dataclass(frozen=True)
class AdapterAddress:
    """Where and how to reach an external adapter, read from its registration."""

    url: str
    auth: str
    credential: str
    skip_cert_verify: bool


def registration_body(row: RegistrationRow) -> ScannerRegistration:
    body = ScannerRegistration(
        uuid=row.uuid,
        name=row.name,
        description=row.description,
        url=row.url,
        disabled=row.disabled,
        is_default=row.is_default,
        auth=row.auth,
        skip_certVerify=row.skip_cert_verify,
        use_internal_addr=row.use_internal_addr,
        create_time=harbor_time(row.created_at),
        update_time=harbor_time(row.updated_at),
    )
    if registrations.is_builtin(row):
        body.adapter = registrations.BUILTIN_NAME
        body.vendor = "Seawall"
        body.version = __version__
        body.health = "healthy"
        body.capabilities = {"support_vulnerability": True, "support_sbom": True}
    return body


def metadata_body(found: metadata.AdapterMetadata) -> ScannerAdapterMetadata:
    return ScannerAdapterMetadata(
        scanner=Scanner(name=found.name, vendor=found.vendor, version=found.version),
        capabilities=[
            ScannerCapability(
                type=capability.type,
                consumes_mime_types=list(capability.consumes_mime_types),
                produces_mime_types=list(capability.produces_mime_types),
            )
            for capability in found.capabilities
        ],
        properties=dict(found.properties),
    )
