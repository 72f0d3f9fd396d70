"""CycloneDX and SPDX documents written from inventories built in the tests."""

from __future__ import annotations

import functools
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import ComponentType
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL

from seawall import __version__
from seawall.scan.inventory import LayerBlob, read_inventory
from seawall.scan.model import Inventory, OperatingSystem, Package
from seawall.scan.sbom import (
    cyclonedx_document,
    spdx_document,
    spdx_license_expression,
)
from seawall.storage import InvalidDigest
from tests.support.oci_layout import blob_path, read_blob, tagged_manifest

IMAGE_NAME = "registry.example.test/library/python-app"
IMAGE_DIGEST = "sha256:" + "a" * 64
OTHER_DIGEST = "sha256:" + "f" * 64
BASE_LAYER = "sha256:" + "b" * 64
APP_LAYER = "sha256:" + "c" * 64
CREATED = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
SPDXID_RE = re.compile(r"SPDXRef-[A-Za-z0-9.-]+")

LIBC6 = Package(
    name="libc6",
    version="2.36-9+deb12u1",
    ecosystem="Debian",
    ecosystem_release="Debian:12",
    purl="pkg:deb/debian/libc6@2.36-9%2Bdeb12u1?arch=amd64&distro=debian-12",
    source_name="glibc",
    source_version="2.36-9+deb12u1",
    layer_index=0,
    layer_digest=BASE_LAYER,
    location="var/lib/dpkg/status",
    licenses=("GPL-2+", "LGPL-2.1"),
)
REQUESTS = Package(
    name="requests",
    version="2.19.0",
    ecosystem="PyPI",
    ecosystem_release="PyPI",
    purl="pkg:pypi/requests@2.19.0",
    layer_index=1,
    layer_digest=APP_LAYER,
    location="usr/local/lib/python3.11/site-packages/requests-2.19.0.dist-info/METADATA",
    licenses=("apache-2.0",),
)
URLLIB3 = Package(
    name="urllib3",
    version="1.24.1",
    ecosystem="PyPI",
    ecosystem_release="PyPI",
    purl="pkg:pypi/urllib3@1.24.1",
    layer_index=1,
    layer_digest=APP_LAYER,
    location="usr/local/lib/python3.11/site-packages/urllib3-1.24.1.dist-info/METADATA",
    licenses=("MIT", "BSD-3-Clause"),
)
# The same npm package installed twice, in two folders of one layer.
LODASH_APP = Package(
    name="lodash",
    version="4.17.15",
    ecosystem="npm",
    ecosystem_release="npm",
    purl="pkg:npm/lodash@4.17.15",
    layer_index=1,
    layer_digest=APP_LAYER,
    location="app/node_modules/lodash/package.json",
    licenses=("MIT OR Apache-2.0",),
)
LODASH_TOOL = Package(
    name="lodash",
    version="4.17.15",
    ecosystem="npm",
    ecosystem_release="npm",
    purl="pkg:npm/lodash@4.17.15",
    layer_index=1,
    layer_digest=APP_LAYER,
    location="opt/tool/node_modules/lodash/package.json",
)
# A package whose reader could not build a package URL.
NO_PURL = Package(
    name="in-house tool",
    version="1.0",
    ecosystem="PyPI",
    ecosystem_release="PyPI",
    purl="",
    layer_index=1,
    layer_digest=APP_LAYER,
    location="opt/in-house/PKG-INFO",
    licenses=("Proprietary",),
)
DEBIAN = OperatingSystem("debian", "12", "Debian GNU/Linux 12 (bookworm)")
PACKAGES = [URLLIB3, LIBC6, LODASH_TOOL, REQUESTS, NO_PURL, LODASH_APP, REQUESTS]
UNIQUE_PACKAGES = 6


def make_inventory(packages: list[Package] | None = None) -> Inventory:
    chosen = PACKAGES if packages is None else packages
    return Inventory(IMAGE_DIGEST, DEBIAN, list(chosen))


def write_cyclonedx(inventory: Inventory, **overrides: Any) -> bytes:
    arguments: dict[str, Any] = {
        "image_name": IMAGE_NAME,
        "image_digest": IMAGE_DIGEST,
        "created": CREATED,
    }
    arguments.update(overrides)
    return cyclonedx_document(inventory, **arguments)


def write_spdx(inventory: Inventory, **overrides: Any) -> bytes:
    arguments: dict[str, Any] = {
        "image_name": IMAGE_NAME,
        "image_digest": IMAGE_DIGEST,
        "created": CREATED,
    }
    arguments.update(overrides)
    return spdx_document(inventory, **arguments)


def library_components(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in document["components"] if c["type"] == "library"]


def properties_of(component: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in component.get("properties", [])}


def component_at(document: dict[str, Any], location: str) -> dict[str, Any]:
    for component in library_components(document):
        if properties_of(component).get("seawall:location") == location:
            return component
    raise AssertionError(f"no component found at {location}")


def spdx_package_named(document: dict[str, Any], name: str) -> dict[str, Any]:
    matches: list[dict[str, Any]] = [
        p for p in document["packages"] if p["name"] == name
    ]
    assert len(matches) == 1, f"expected one SPDX package {name}, found {len(matches)}"
    return matches[0]


# License expressions


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("MIT", "MIT"),
        ("mit", "MIT"),
        ("apache-2.0", "Apache-2.0"),
        ("MIT and apache-2.0", "MIT AND Apache-2.0"),
        ("Apache-2.0 WITH LLVM-exception", "Apache-2.0 WITH LLVM-exception"),
        ("GPL-2+", None),
        ("BSD License", None),
        ("LicenseRef-internal", None),
        ("MIT AND", None),
        ("MIT OR OR", None),
        ("((MIT)", None),
        ("", None),
        ("   ", None),
    ],
)
def test_license_expression_normalized(text: str, expected: str | None) -> None:
    assert spdx_license_expression(text) == expected


# CycloneDX


def test_cyclonedx_matches_schema() -> None:
    document = write_cyclonedx(make_inventory())
    validator = JsonStrictValidator(SchemaVersion.V1_6)
    assert validator.validate_str(document.decode()) is None


def test_cyclonedx_empty_inventory_matches_schema() -> None:
    document = write_cyclonedx(Inventory(IMAGE_DIGEST))
    validator = JsonStrictValidator(SchemaVersion.V1_6)
    assert validator.validate_str(document.decode()) is None
    assert "components" not in json.loads(document)


def test_cyclonedx_reads_back_with_library() -> None:
    bom = Bom.from_json(json.loads(write_cyclonedx(make_inventory())))  # type: ignore[attr-defined]
    assert isinstance(bom, Bom)
    assert bom.metadata.component is not None
    assert bom.metadata.component.type == ComponentType.CONTAINER
    assert len(bom.components) == UNIQUE_PACKAGES + 1
    names = sorted(c.name for c in bom.components)
    assert names.count("lodash") == 2


def test_cyclonedx_header_fields() -> None:
    document = json.loads(write_cyclonedx(make_inventory()))
    assert document["bomFormat"] == "CycloneDX"
    assert document["specVersion"] == "1.6"
    assert document["version"] == 1
    assert document["serialNumber"].startswith("urn:uuid:")
    assert document["metadata"]["timestamp"] == "2024-05-06T07:08:09+00:00"
    tool = document["metadata"]["tools"]["components"][0]
    assert tool["name"] == "seawall"
    assert tool["version"] == __version__


def test_cyclonedx_image_component() -> None:
    image = json.loads(write_cyclonedx(make_inventory()))["metadata"]["component"]
    assert image["type"] == "container"
    assert image["name"] == IMAGE_NAME
    assert image["version"] == IMAGE_DIGEST
    purl = PackageURL.from_string(image["purl"])
    assert purl.type == "oci"
    assert purl.name == "python-app"
    assert purl.version == IMAGE_DIGEST
    assert purl.qualifiers == {"repository_url": IMAGE_NAME}


def test_cyclonedx_one_component_per_package() -> None:
    document = json.loads(write_cyclonedx(make_inventory()))
    components = library_components(document)
    assert len(components) == UNIQUE_PACKAGES
    refs = [c["bom-ref"] for c in document["components"]]
    assert len(set(refs)) == len(refs)


def test_cyclonedx_package_fields() -> None:
    document = json.loads(write_cyclonedx(make_inventory()))
    libc6 = component_at(document, LIBC6.location)
    assert libc6["name"] == "libc6"
    assert libc6["version"] == LIBC6.version
    assert libc6["purl"] == LIBC6.purl
    properties = properties_of(libc6)
    assert properties["seawall:layer_digest"] == BASE_LAYER
    assert properties["seawall:location"] == "var/lib/dpkg/status"
    assert properties["seawall:ecosystem"] == "Debian:12"
    assert properties["seawall:source_name"] == "glibc"
    assert properties["seawall:source_version"] == "2.36-9+deb12u1"


def test_cyclonedx_package_without_purl() -> None:
    document = json.loads(write_cyclonedx(make_inventory()))
    component = component_at(document, NO_PURL.location)
    assert component["name"] == "in-house tool"
    assert "purl" not in component


def test_cyclonedx_invalid_purl_left_out() -> None:
    broken = Package(
        name="broken",
        version="1",
        ecosystem="PyPI",
        ecosystem_release="PyPI",
        purl="not a package url",
        location="opt/broken",
    )
    document = json.loads(write_cyclonedx(make_inventory([broken])))
    component = component_at(document, "opt/broken")
    assert "purl" not in component


def test_cyclonedx_licenses() -> None:
    document = json.loads(write_cyclonedx(make_inventory()))
    libc6 = component_at(document, LIBC6.location)["licenses"]
    assert {"license": {"id": "LGPL-2.1-only"}} in libc6
    assert {"license": {"name": "GPL-2+"}} in libc6
    requests = component_at(document, REQUESTS.location)["licenses"]
    assert requests == [{"license": {"id": "Apache-2.0"}}]
    lodash = component_at(document, LODASH_APP.location)["licenses"]
    assert lodash == [{"expression": "MIT OR Apache-2.0"}]
    assert "licenses" not in component_at(document, LODASH_TOOL.location)


def test_cyclonedx_compound_among_several() -> None:
    package = Package(
        name="mixed",
        version="1",
        ecosystem="npm",
        ecosystem_release="npm",
        purl="pkg:npm/mixed@1",
        location="app/node_modules/mixed/package.json",
        licenses=("MIT OR Apache-2.0", "ISC"),
    )
    document = write_cyclonedx(make_inventory([package]))
    licenses = component_at(json.loads(document), package.location)["licenses"]
    assert {"license": {"name": "MIT OR Apache-2.0"}} in licenses
    assert {"license": {"id": "ISC"}} in licenses
    validator = JsonStrictValidator(SchemaVersion.V1_6)
    assert validator.validate_str(document.decode()) is None


def test_cyclonedx_operating_system() -> None:
    document = json.loads(write_cyclonedx(make_inventory()))
    systems = [c for c in document["components"] if c["type"] == "operating-system"]
    assert len(systems) == 1
    assert systems[0]["name"] == "debian"
    assert systems[0]["version"] == "12"
    assert systems[0]["description"] == "Debian GNU/Linux 12 (bookworm)"


def test_cyclonedx_dependencies_only_image() -> None:
    document = json.loads(write_cyclonedx(make_inventory()))
    dependencies = document["dependencies"]
    assert len(dependencies) == 1
    assert dependencies[0]["ref"] == document["metadata"]["component"]["bom-ref"]
    refs = {c["bom-ref"] for c in document["components"]}
    assert set(dependencies[0]["dependsOn"]) == refs


def test_cyclonedx_deterministic() -> None:
    first = write_cyclonedx(make_inventory())
    second = write_cyclonedx(make_inventory(list(reversed(PACKAGES))))
    assert first == second


def test_cyclonedx_serial_follows_image() -> None:
    first = json.loads(write_cyclonedx(make_inventory()))
    later = json.loads(write_cyclonedx(make_inventory([REQUESTS])))
    other = json.loads(write_cyclonedx(make_inventory(), image_digest=OTHER_DIGEST))
    assert first["serialNumber"] == later["serialNumber"]
    assert first["serialNumber"] != other["serialNumber"]


def test_cyclonedx_created_converted_to_utc() -> None:
    eastern = CREATED.astimezone(timezone(timedelta(hours=-5)))
    document = json.loads(write_cyclonedx(make_inventory(), created=eastern))
    assert document["metadata"]["timestamp"] == "2024-05-06T07:08:09+00:00"


def test_cyclonedx_naive_created_rejected() -> None:
    naive = datetime(2024, 5, 6, 7, 8, 9)  # noqa: DTZ001 - the case under test
    with pytest.raises(ValueError, match="timezone-aware"):
        write_cyclonedx(make_inventory(), created=naive)


def test_cyclonedx_invalid_digest_rejected() -> None:
    with pytest.raises(InvalidDigest):
        write_cyclonedx(make_inventory(), image_digest="sha256:short")


# SPDX


def test_spdx_document_fields() -> None:
    document = json.loads(write_spdx(make_inventory()))
    assert document["spdxVersion"] == "SPDX-2.3"
    assert document["dataLicense"] == "CC0-1.0"
    assert document["SPDXID"] == "SPDXRef-DOCUMENT"
    assert document["name"] == f"{IMAGE_NAME}@{IMAGE_DIGEST}"
    assert document["creationInfo"]["created"] == "2024-05-06T07:08:09Z"
    assert document["creationInfo"]["creators"] == [f"Tool: seawall-{__version__}"]


def test_spdx_namespace_is_uri() -> None:
    namespace = json.loads(write_spdx(make_inventory()))["documentNamespace"]
    assert re.fullmatch(r"https://[^\s#]+", namespace)


def test_spdx_namespace_deterministic() -> None:
    first = json.loads(write_spdx(make_inventory()))["documentNamespace"]
    again = json.loads(write_spdx(make_inventory()))["documentNamespace"]
    assert first == again


def test_spdx_namespace_unique_per_content() -> None:
    first = json.loads(write_spdx(make_inventory()))["documentNamespace"]
    fewer = json.loads(write_spdx(make_inventory([LIBC6])))["documentNamespace"]
    other = json.loads(write_spdx(make_inventory(), image_digest=OTHER_DIGEST))
    assert first != fewer
    assert first != other["documentNamespace"]


def test_spdx_package_required_fields() -> None:
    document = json.loads(write_spdx(make_inventory()))
    assert len(document["packages"]) == UNIQUE_PACKAGES + 2
    for package in document["packages"]:
        assert package["name"], package
        assert package["downloadLocation"] == "NOASSERTION", package
        assert package["filesAnalyzed"] is False, package
        assert "versionInfo" in package, package


def test_spdx_ids_valid_and_unique() -> None:
    document = json.loads(write_spdx(make_inventory()))
    identifiers = [document["SPDXID"]] + [p["SPDXID"] for p in document["packages"]]
    for identifier in identifiers:
        assert SPDXID_RE.fullmatch(identifier), identifier
    assert len(set(identifiers)) == len(identifiers)


def test_spdx_id_of_unusual_name() -> None:
    document = json.loads(write_spdx(make_inventory([NO_PURL])))
    package = spdx_package_named(document, "in-house tool")
    assert SPDXID_RE.fullmatch(package["SPDXID"])


def test_spdx_relationships_point_at_elements() -> None:
    document = json.loads(write_spdx(make_inventory()))
    elements = {document["SPDXID"]} | {p["SPDXID"] for p in document["packages"]}
    for relationship in document["relationships"]:
        assert relationship["spdxElementId"] in elements, relationship
        assert relationship["relatedSpdxElement"] in elements, relationship


def test_spdx_describes_image() -> None:
    document = json.loads(write_spdx(make_inventory()))
    describes = [
        r for r in document["relationships"] if r["relationshipType"] == "DESCRIBES"
    ]
    assert describes == [
        {
            "spdxElementId": "SPDXRef-DOCUMENT",
            "relationshipType": "DESCRIBES",
            "relatedSpdxElement": "SPDXRef-Image",
        }
    ]


def test_spdx_image_contains_every_package() -> None:
    document = json.loads(write_spdx(make_inventory()))
    contained = {
        r["relatedSpdxElement"]
        for r in document["relationships"]
        if r["relationshipType"] == "CONTAINS" and r["spdxElementId"] == "SPDXRef-Image"
    }
    others = {p["SPDXID"] for p in document["packages"]} - {"SPDXRef-Image"}
    assert contained == others


def test_spdx_image_package() -> None:
    image = spdx_package_named(json.loads(write_spdx(make_inventory())), IMAGE_NAME)
    assert image["SPDXID"] == "SPDXRef-Image"
    assert image["versionInfo"] == IMAGE_DIGEST
    assert image["primaryPackagePurpose"] == "CONTAINER"
    assert image["checksums"] == [{"algorithm": "SHA256", "checksumValue": "a" * 64}]
    locator = image["externalRefs"][0]["referenceLocator"]
    assert PackageURL.from_string(locator).type == "oci"


def test_spdx_operating_system() -> None:
    system = spdx_package_named(json.loads(write_spdx(make_inventory())), "debian")
    assert system["SPDXID"] == "SPDXRef-OperatingSystem"
    assert system["versionInfo"] == "12"
    assert system["primaryPackagePurpose"] == "OPERATING-SYSTEM"


def test_spdx_package_purl_reference() -> None:
    document = json.loads(write_spdx(make_inventory()))
    requests = spdx_package_named(document, "requests")
    assert requests["externalRefs"] == [
        {
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": "pkg:pypi/requests@2.19.0",
        }
    ]
    assert "externalRefs" not in spdx_package_named(document, "in-house tool")


def test_spdx_source_info_names_layer() -> None:
    libc6 = spdx_package_named(json.loads(write_spdx(make_inventory())), "libc6")
    assert BASE_LAYER in libc6["sourceInfo"]
    assert "var/lib/dpkg/status" in libc6["sourceInfo"]


@pytest.mark.parametrize(
    ("name", "declared"),
    [
        ("requests", "Apache-2.0"),
        ("urllib3", "BSD-3-Clause AND MIT"),
        ("libc6", "NOASSERTION"),
        ("in-house tool", "NOASSERTION"),
    ],
)
def test_spdx_declared_license(name: str, declared: str) -> None:
    package = spdx_package_named(json.loads(write_spdx(make_inventory())), name)
    assert package["licenseDeclared"] == declared
    assert package["licenseConcluded"] == "NOASSERTION"


def test_spdx_compound_licenses_grouped() -> None:
    package = Package(
        name="mixed",
        version="1",
        ecosystem="npm",
        ecosystem_release="npm",
        purl="pkg:npm/mixed@1",
        location="app/node_modules/mixed/package.json",
        licenses=("MIT OR Apache-2.0", "ISC"),
    )
    document = json.loads(write_spdx(make_inventory([package])))
    declared = spdx_package_named(document, "mixed")["licenseDeclared"]
    assert declared == "ISC AND (MIT OR Apache-2.0)"
    assert spdx_license_expression(declared) == declared


def test_spdx_lodash_twice() -> None:
    document = json.loads(write_spdx(make_inventory()))
    lodash = [p for p in document["packages"] if p["name"] == "lodash"]
    assert len(lodash) == 2
    assert lodash[0]["SPDXID"] != lodash[1]["SPDXID"]


def test_spdx_packages_sorted() -> None:
    packages = json.loads(write_spdx(make_inventory()))["packages"]
    contained = [p["SPDXID"] for p in packages[1:]]
    assert packages[0]["SPDXID"] == "SPDXRef-Image"
    assert contained == sorted(contained)


def test_spdx_deterministic() -> None:
    first = write_spdx(make_inventory())
    second = write_spdx(make_inventory(list(reversed(PACKAGES))))
    assert first == second


def test_spdx_without_operating_system() -> None:
    inventory = Inventory(IMAGE_DIGEST, None, [REQUESTS])
    document = json.loads(write_spdx(inventory))
    names = [p["name"] for p in document["packages"]]
    assert names == [IMAGE_NAME, "requests"]


def test_spdx_empty_versions_left_out() -> None:
    unversioned = Package(
        name="unversioned",
        version="",
        ecosystem="npm",
        ecosystem_release="npm",
        purl="pkg:npm/unversioned",
        location="app/node_modules/unversioned/package.json",
    )
    inventory = Inventory(IMAGE_DIGEST, OperatingSystem("debian", ""), [unversioned])
    document = json.loads(write_spdx(inventory))
    assert "versionInfo" not in spdx_package_named(document, "unversioned")
    assert "versionInfo" not in spdx_package_named(document, "debian")


def test_cyclonedx_empty_versions_left_out() -> None:
    unversioned = Package(
        name="unversioned",
        version="",
        ecosystem="npm",
        ecosystem_release="npm",
        purl="pkg:npm/unversioned",
        location="app/node_modules/unversioned/package.json",
    )
    inventory = Inventory(IMAGE_DIGEST, OperatingSystem("debian", ""), [unversioned])
    document = json.loads(write_cyclonedx(inventory))
    for component in document["components"]:
        assert "version" not in component, component


def test_spdx_naive_created_rejected() -> None:
    naive = datetime(2024, 5, 6, 7, 8, 9)  # noqa: DTZ001 - the case under test
    with pytest.raises(ValueError, match="timezone-aware"):
        write_spdx(make_inventory(), created=naive)


# An image of the test kit, read by the inventory reader


def open_binary(path: Path) -> BinaryIO:
    return path.open("rb")


def python_app_inventory(layout: Path) -> tuple[Inventory, list[str]]:
    """Read the inventory of python-app:1.0 and return it with its layer digests."""
    digest = tagged_manifest(layout, "1.0").digest
    manifest = json.loads(read_blob(layout, digest))
    layers = [
        LayerBlob(
            layer["digest"],
            layer["mediaType"],
            functools.partial(open_binary, blob_path(layout, layer["digest"])),
        )
        for layer in manifest["layers"]
    ]
    layer_digests = [layer["digest"] for layer in manifest["layers"]]
    return read_inventory(digest, layers), layer_digests


def test_python_app_documents(testdata: Path) -> None:
    inventory, layer_digests = python_app_inventory(testdata / "images" / "python-app")
    assert len(inventory.packages) == 12
    arguments: dict[str, Any] = {
        "image_name": "library/python-app",
        "image_digest": inventory.manifest_digest,
        "created": CREATED,
    }
    cyclonedx = cyclonedx_document(inventory, **arguments)
    spdx = json.loads(spdx_document(inventory, **arguments))

    validator = JsonStrictValidator(SchemaVersion.V1_6)
    assert validator.validate_str(cyclonedx.decode()) is None
    components = library_components(json.loads(cyclonedx))
    assert {c["purl"] for c in components} == {p.purl for p in inventory.packages}
    for component in components:
        layer = properties_of(component)["seawall:layer_digest"]
        assert layer in layer_digests, component["name"]

    elements = {spdx["SPDXID"]} | {p["SPDXID"] for p in spdx["packages"]}
    assert len(spdx["packages"]) == 14
    for identifier in elements:
        assert SPDXID_RE.fullmatch(identifier), identifier
    for relationship in spdx["relationships"]:
        assert relationship["relatedSpdxElement"] in elements, relationship
    assert spdx_package_named(spdx, "Django")["licenseDeclared"] == "BSD-3-Clause"
    assert spdx_package_named(spdx, "requests")["licenseDeclared"] == "NOASSERTION"
