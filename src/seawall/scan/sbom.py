"""SBOM documents for an image inventory: CycloneDX 1.6 JSON and SPDX 2.3 JSON.

Both writers are deterministic: the same inventory, image and creation time
give the same bytes, so an SBOM stored again keeps its digest. Packages are
sorted, and identifiers (CycloneDX serial number and `bom-ref`s, SPDX
namespace and `SPDXID`s) are derived from the input instead of drawn at
random.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import structlog
from cyclonedx.model import Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.license import DisjunctiveLicense, License, LicenseExpression
from cyclonedx.model.lifecycle import LifecyclePhase, PredefinedLifecycle
from cyclonedx.model.tool import ToolRepository
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.spdx import is_expression as is_spdx_expression
from license_expression import get_spdx_licensing  # type: ignore[import-untyped]
from packageurl import PackageURL

from seawall import __version__
from seawall.scan import sbom_types
from seawall.scan.model import Inventory, OperatingSystem, Package
from seawall.storage import parse_digest

logger = structlog.get_logger(__name__)

CYCLONEDX_MEDIA_TYPE = sbom_types.CYCLONEDX_MEDIA_TYPE
SPDX_MEDIA_TYPE = sbom_types.SPDX_MEDIA_TYPE

TOOL_NAME = "seawall"
PROPERTY_PREFIX = "seawall:"

# NOTE: `.invalid` is reserved (RFC 2606), so the namespace can never name a
# real server. SPDX 2.3 requires only a unique URI without "#".
SPDX_NAMESPACE_BASE = "https://seawall.invalid/spdxdocs"
_SERIAL_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, SPDX_NAMESPACE_BASE)
_SPDXID_INVALID = re.compile(r"[^A-Za-z0-9.-]+")
_LICENSING = get_spdx_licensing()


# Shared input handling


def _check_created(created: datetime) -> datetime:
    if created.tzinfo is None:
        raise ValueError(
            "SBOM creation time must be timezone-aware, got a naive datetime"
        )
    return created.astimezone(UTC).replace(microsecond=0)


def _package_id(package: Package) -> str:
    """Return a short hash that distinguishes packages with the same name."""
    fields = (
        package.ecosystem,
        package.name,
        package.version,
        package.purl,
        package.layer_digest,
        package.location,
    )
    return hashlib.sha256("\0".join(fields).encode()).hexdigest()[:16]


def _sorted_packages(inventory: Inventory) -> list[Package]:
    """Return the inventory's packages sorted, with exact repeats dropped."""
    unique: dict[str, Package] = {}
    for package in inventory.packages:
        unique.setdefault(_package_id(package), package)
    return sorted(
        unique.values(),
        key=lambda p: (p.ecosystem, p.name, p.version, p.location, _package_id(p)),
    )


def _package_url(package: Package) -> PackageURL | None:
    if not package.purl:
        return None
    try:
        return PackageURL.from_string(package.purl)
    except ValueError as exc:
        logger.warning(
            "package URL invalid, left out of the SBOM",
            package=package.name,
            purl=package.purl,
            error=str(exc),
        )
        return None


def _image_url(image_name: str, image_digest: str) -> PackageURL:
    """Return the `pkg:oci` package URL of the image, as the purl `oci` type defines it."""
    parse_digest(image_digest)
    name = image_name.rstrip("/").rsplit("/", 1)[-1].lower()
    return PackageURL(
        type="oci",
        name=name,
        version=image_digest,
        qualifiers={"repository_url": image_name},
    )


def spdx_license_expression(text: str) -> str | None:
    """Return `text` as a normalized SPDX license expression, or None if it is not one.

    Licence references (`LicenseRef-...`) count as invalid, because the
    documents written here declare no extracted licensing information.
    """
    # license-expression 30.4.4 raises AttributeError or IndexError instead of
    # reporting some syntax errors (a trailing operator, a stray symbol), so
    # cyclonedx-python-lib's check, which catches those, screens the text first.
    if not text.strip() or not is_spdx_expression(text):
        return None
    result = _LICENSING.validate(text, strict=True)
    if result.errors or not result.normalized_expression:
        return None
    return str(result.normalized_expression)


# CycloneDX


def cyclonedx_document(
    inventory: Inventory, *, image_name: str, image_digest: str, created: datetime
) -> bytes:
    """Write the inventory as a CycloneDX 1.6 JSON BOM describing the image.

    `image_name` is the repository the image is stored in, with the registry
    host where one applies, and without tag or digest.
    """
    image = Component(
        type=ComponentType.CONTAINER,
        name=image_name,
        version=image_digest,
        purl=_image_url(image_name, image_digest),
        bom_ref="image",
    )
    components = [_cyclonedx_component(p) for p in _sorted_packages(inventory)]
    if inventory.os is not None:
        components.append(_cyclonedx_os(inventory.os))

    tools = ToolRepository(
        components=[
            Component(
                type=ComponentType.APPLICATION, name=TOOL_NAME, version=__version__
            )
        ]
    )
    metadata = BomMetaData(
        component=image,
        timestamp=_check_created(created),
        tools=tools,
        lifecycles=[PredefinedLifecycle(LifecyclePhase.POST_BUILD)],
    )
    # The serial number stays the same for every BOM of one image, as
    # CycloneDX intends for successive versions of the same BOM.
    # NOTE: the BOM version is always 1, so a BOM written again after the
    # inventory changed has the same serial number and version as before.
    serial = uuid.uuid5(_SERIAL_NAMESPACE, f"cyclonedx:{image_digest}")
    bom = Bom(serial_number=serial, metadata=metadata, components=components)
    bom.register_dependency(image, components)

    document = json.loads(JsonV1Dot6(bom).output_as_string())
    document["dependencies"] = _known_dependencies(document.get("dependencies", []))
    return json.dumps(document, sort_keys=True, ensure_ascii=False).encode()


def _known_dependencies(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop the empty entries that cyclonedx-python-lib adds for every component.

    CycloneDX 1.6 reads an empty `dependsOn` as "has no dependencies", but an
    inventory does not record dependencies between packages. A component
    left out of the graph has unknown dependencies, which is the truth here.
    """
    return [entry for entry in entries if entry.get("dependsOn")]


def _cyclonedx_component(package: Package) -> Component:
    properties = [
        Property(name=f"{PROPERTY_PREFIX}ecosystem", value=package.ecosystem_release),
        Property(name=f"{PROPERTY_PREFIX}layer_digest", value=package.layer_digest),
        Property(name=f"{PROPERTY_PREFIX}location", value=package.location),
    ]
    if package.source_name:
        properties.append(
            Property(name=f"{PROPERTY_PREFIX}source_name", value=package.source_name)
        )
    if package.source_version:
        properties.append(
            Property(
                name=f"{PROPERTY_PREFIX}source_version", value=package.source_version
            )
        )
    return Component(
        type=ComponentType.LIBRARY,
        name=package.name,
        version=package.version or None,
        purl=_package_url(package),
        bom_ref=f"package-{_package_id(package)}",
        licenses=_cyclonedx_licenses(package.licenses),
        properties=[p for p in properties if p.value],
    )


def _cyclonedx_licenses(texts: tuple[str, ...]) -> list[License]:
    """Convert declared licences to CycloneDX licence choices.

    CycloneDX allows either one expression or a list of single licences, so
    a compound expression among several licences is written as a name.
    """
    names = sorted({text.strip() for text in texts if text.strip()})
    expressions = [spdx_license_expression(name) for name in names]
    if len(names) == 1 and expressions[0] is not None and _is_compound(expressions[0]):
        return [LicenseExpression(expressions[0])]
    licenses: list[License] = []
    for name, expression in zip(names, expressions, strict=True):
        if expression is not None and not _is_compound(expression):
            licenses.append(DisjunctiveLicense(id=expression))
        else:
            licenses.append(DisjunctiveLicense(name=expression or name))
    return licenses


def _is_compound(expression: str) -> bool:
    return any(f" {word} " in expression for word in ("AND", "OR", "WITH"))


def _cyclonedx_os(os: OperatingSystem) -> Component:
    return Component(
        type=ComponentType.OPERATING_SYSTEM,
        name=os.id,
        version=os.version_id or None,
        description=os.pretty_name or None,
        bom_ref="operating-system",
    )


# SPDX


def spdx_document(
    inventory: Inventory, *, image_name: str, image_digest: str, created: datetime
) -> bytes:
    """Write the inventory as an SPDX 2.3 JSON document describing the image.

    `image_name` is the repository the image is stored in, as for
    `cyclonedx_document`.
    """
    packages = [_spdx_image(image_name, image_digest)]
    contained = [_spdx_package(p) for p in _sorted_packages(inventory)]
    if inventory.os is not None:
        contained.append(_spdx_os(inventory.os))
    packages.extend(sorted(contained, key=lambda p: str(p["SPDXID"])))

    relationships = [_relationship("SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-Image")]
    relationships.extend(
        _relationship("SPDXRef-Image", "CONTAINS", str(p["SPDXID"])) for p in contained
    )
    document: dict[str, Any] = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": f"{image_name}@{image_digest}",
        "creationInfo": {
            "created": _check_created(created).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "creators": [f"Tool: {TOOL_NAME}-{__version__}"],
        },
        "packages": packages,
        "relationships": relationships,
    }
    document["documentNamespace"] = _spdx_namespace(document, image_name)
    return json.dumps(document, sort_keys=True, ensure_ascii=False).encode()


def _spdx_namespace(document: dict[str, Any], image_name: str) -> str:
    """Return a namespace derived from the rest of the document.

    SPDX 2.3 requires a namespace unique to each document, so the whole
    content is hashed, and two documents share a namespace only if they are equal.
    """
    content = json.dumps(document, sort_keys=True).encode()
    name = uuid.uuid5(_SERIAL_NAMESPACE, hashlib.sha256(content).hexdigest())
    slug = _SPDXID_INVALID.sub("-", image_name).strip("-")
    return f"{SPDX_NAMESPACE_BASE}/{slug}-{name}"


def _spdx_id(*parts: str) -> str:
    return "SPDXRef-" + "-".join(_SPDXID_INVALID.sub("-", part) for part in parts)


def _relationship(element: str, kind: str, related: str) -> dict[str, str]:
    return {
        "spdxElementId": element,
        "relationshipType": kind,
        "relatedSpdxElement": related,
    }


def _purl_reference(url: str) -> dict[str, str]:
    return {
        "referenceCategory": "PACKAGE-MANAGER",
        "referenceType": "purl",
        "referenceLocator": url,
    }


def _spdx_image(image_name: str, image_digest: str) -> dict[str, Any]:
    digest = parse_digest(image_digest)
    return {
        "SPDXID": "SPDXRef-Image",
        "name": image_name,
        "versionInfo": image_digest,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "primaryPackagePurpose": "CONTAINER",
        "checksums": [
            {"algorithm": digest.algorithm.upper(), "checksumValue": digest.hex}
        ],
        "externalRefs": [
            _purl_reference(_image_url(image_name, image_digest).to_string())
        ],
    }


def _spdx_package(package: Package) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "SPDXID": _spdx_id("Package", package.name, _package_id(package)),
        "name": package.name,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "primaryPackagePurpose": "LIBRARY",
        # Nothing is concluded from the files, so only the declared licence
        # can carry a value.
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": _spdx_declared_license(package.licenses),
    }
    if package.version:
        entry["versionInfo"] = package.version
    if package.layer_digest or package.location:
        entry["sourceInfo"] = (
            f"found in layer {package.layer_digest or 'unknown'} "
            f"at {package.location or 'unknown path'}"
        )
    url = _package_url(package)
    if url is not None:
        entry["externalRefs"] = [_purl_reference(url.to_string())]
    return entry


def _spdx_declared_license(texts: tuple[str, ...]) -> str:
    """Join the declared licences with AND, or return NOASSERTION if any is not SPDX."""
    names = sorted({text.strip() for text in texts if text.strip()})
    expressions = [spdx_license_expression(name) for name in names]
    if not expressions or any(e is None for e in expressions):
        return "NOASSERTION"
    if len(expressions) == 1:
        return str(expressions[0])
    return " AND ".join(
        f"({e})" if _is_compound(str(e)) else str(e) for e in expressions
    )


def _spdx_os(os: OperatingSystem) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "SPDXID": "SPDXRef-OperatingSystem",
        "name": os.id,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "primaryPackagePurpose": "OPERATING-SYSTEM",
    }
    if os.version_id:
        entry["versionInfo"] = os.version_id
    if os.pretty_name:
        entry["description"] = os.pretty_name
    return entry
