"""SBOM generation, its accessories and the SBOM and build history additions.

The module runs one registry of its own and pushes the kit's images with
skopeo. An SBOM needs only the image's package inventory, so no
advisories are imported.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.oci_layout import read_blob
from tests.support.scanning import (
    ADMIN,
    admin_api,
    artifact_path,
    create_project,
    expected_findings,
    import_advisories,
    push,
    scanning_registry,
    wait_for_sbom,
)
from tests.support.seed import add_member, create_user
from tests.support.server import RunningRegistry

SPDX = "application/spdx+json"
CYCLONEDX = "application/vnd.cyclonedx+json"
INDEX_ACCEPT = "application/vnd.oci.image.index.v1+json"
PYTHON_APP = "sha256:a987c54aa5ea22209666756c506101a554854b695f197821776498f53c0becd2"
ARM64_DIGEST = "sha256:1f9ea65d064449a2f34f0dda52bf6efa5f72eb9467650fdb5cd7d58911b02568"
SBOM_REQUEST = {"scan_type": "sbom"}
GUEST = 3


@pytest.fixture(scope="module")
def sbom_registry(
    tmp_path_factory: pytest.TempPathFactory, testdata: Path
) -> Iterator[RunningRegistry]:
    with scanning_registry(tmp_path_factory, testdata, "sbom", zips=()) as running:
        yield running


@pytest.fixture(scope="module")
def module_api(sbom_registry: RunningRegistry) -> Iterator[httpx.Client]:
    with admin_api(sbom_registry) as client:
        yield client


@pytest.fixture
def api(module_api: httpx.Client) -> httpx.Client:
    return module_api


@pytest.fixture(scope="module")
def expected(testdata: Path) -> dict[str, Any]:
    return expected_findings(testdata)


@pytest.fixture(scope="module")
def python_app(
    sbom_registry: RunningRegistry, module_api: httpx.Client, testdata: Path
) -> dict[str, Any]:
    """The SBOM overview of python-app:1.0 in `boms/app:1.0`, generated on request."""
    create_project(module_api, "boms")
    push(sbom_registry, testdata, "python-app", "1.0", "boms/app:1.0")
    response = module_api.post(
        f"{artifact_path('boms', 'app', '1.0')}/scan", json=SBOM_REQUEST
    )
    assert response.status_code == 202, response.text
    return wait_for_sbom(module_api, "boms", "app", "1.0")


def referrers(
    registry: RunningRegistry,
    repository: str,
    digest: str,
    artifact_type: str | None = None,
) -> list[dict[str, Any]]:
    params = {"artifactType": artifact_type} if artifact_type else {}
    response = httpx.get(
        f"{registry.url}/v2/{repository}/referrers/{digest}",
        params=params,
        headers={"Accept": INDEX_ACCEPT},
        auth=ADMIN,
        timeout=60,
    )
    assert response.status_code == 200, response.text
    manifests: list[dict[str, Any]] = response.json()["manifests"]
    return manifests


def sbom_addition(
    api: httpx.Client, project: str, repository: str, reference: str, accept: str = ""
) -> httpx.Response:
    headers = {"Accept": accept} if accept else {}
    path = artifact_path(project, repository, reference)
    return api.get(f"{path}/additions/sbom", headers=headers)


def error_message(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["message"])


# Generation ------------------------------------------------------------------


def test_sbom_overview(python_app: dict[str, Any]) -> None:
    assert python_app["scan_status"] == "Success"
    assert python_app["sbom_digest"].startswith("sha256:")
    assert python_app["report_id"]
    assert python_app["scanner"]["name"] == "Seawall"
    assert python_app["scanner"]["vendor"] == "Seawall"
    assert python_app["scanner"]["version"]
    start = datetime.fromisoformat(python_app["start_time"])
    end = datetime.fromisoformat(python_app["end_time"])
    assert start <= end
    assert python_app["duration"] == int((end - start).total_seconds())


def test_sbom_overview_only_when_asked(
    api: httpx.Client, python_app: dict[str, Any]
) -> None:
    artifact = api.get(artifact_path("boms", "app", "1.0")).json()
    assert "sbom_overview" not in artifact


def test_referrers_list_both_formats(
    sbom_registry: RunningRegistry, python_app: dict[str, Any]
) -> None:
    listed = referrers(sbom_registry, "boms/app", PYTHON_APP)
    assert sorted(item["artifactType"] for item in listed) == [SPDX, CYCLONEDX]
    spdx = next(item for item in listed if item["artifactType"] == SPDX)
    assert spdx["digest"] == python_app["sbom_digest"]
    for item in listed:
        assert item["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
        assert item["annotations"]["org.opencontainers.image.created"]


def test_referrers_filter_by_type(
    sbom_registry: RunningRegistry, python_app: dict[str, Any]
) -> None:
    for artifact_type in (SPDX, CYCLONEDX):
        listed = referrers(sbom_registry, "boms/app", PYTHON_APP, artifact_type)
        assert [item["artifactType"] for item in listed] == [artifact_type]


def test_accessory_manifest_refers_to_image(
    sbom_registry: RunningRegistry, python_app: dict[str, Any]
) -> None:
    response = httpx.get(
        f"{sbom_registry.url}/v2/boms/app/manifests/{python_app['sbom_digest']}",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        auth=ADMIN,
        timeout=60,
    )
    assert response.status_code == 200, response.text
    manifest = response.json()
    assert manifest["artifactType"] == SPDX
    assert manifest["subject"]["digest"] == PYTHON_APP
    assert manifest["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"
    assert [layer["mediaType"] for layer in manifest["layers"]] == [SPDX]


def test_regeneration_replaces_accessories(
    sbom_registry: RunningRegistry, api: httpx.Client, python_app: dict[str, Any]
) -> None:
    # The documents carry their creation time in seconds, so wait for a new one.
    time.sleep(1.1)
    response = api.post(
        f"{artifact_path('boms', 'app', '1.0')}/scan", json=SBOM_REQUEST
    )
    assert response.status_code == 202, response.text
    overview = wait_for_sbom(api, "boms", "app", "1.0")
    assert overview["sbom_digest"] != python_app["sbom_digest"]

    listed = referrers(sbom_registry, "boms/app", PYTHON_APP)
    assert len(listed) == 2
    assert overview["sbom_digest"] in {item["digest"] for item in listed}
    old = api.get(artifact_path("boms", "app", python_app["sbom_digest"]))
    assert old.status_code == 404, old.text


# The SBOM addition -----------------------------------------------------------


def test_addition_spdx_by_default(
    api: httpx.Client, python_app: dict[str, Any], expected: dict[str, Any]
) -> None:
    response = sbom_addition(api, "boms", "app", "1.0")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(SPDX)
    document = response.json()
    assert document["spdxVersion"].startswith("SPDX-")
    assert document["name"] == f"boms/app@{PYTHON_APP}"
    names = {package["name"] for package in document["packages"]}
    for package in expected["python-app:1.0"]["packages"]:
        assert package["name"] in names


def test_addition_cyclonedx_on_request(
    api: httpx.Client, python_app: dict[str, Any], expected: dict[str, Any]
) -> None:
    response = sbom_addition(api, "boms", "app", "1.0", accept=CYCLONEDX)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(CYCLONEDX)
    document = response.json()
    assert document["bomFormat"] == "CycloneDX"
    names = {component["name"] for component in document["components"]}
    for package in expected["python-app:1.0"]["packages"]:
        assert package["name"] in names


def test_addition_of_accessory_itself(
    sbom_registry: RunningRegistry, api: httpx.Client, python_app: dict[str, Any]
) -> None:
    (cyclonedx,) = referrers(sbom_registry, "boms/app", PYTHON_APP, CYCLONEDX)
    response = sbom_addition(api, "boms", "app", cyclonedx["digest"])
    assert response.status_code == 200, response.text
    assert response.json()["bomFormat"] == "CycloneDX"


def test_addition_before_generation(
    sbom_registry: RunningRegistry, api: httpx.Client, testdata: Path
) -> None:
    create_project(api, "pending")
    push(sbom_registry, testdata, "java-app", "1.0", "pending/java:1.0")
    response = sbom_addition(api, "pending", "java", "1.0")
    assert response.status_code == 404, response.text
    assert error_message(response).startswith("no SBOM was generated for pending/java@")


def test_addition_not_shared_across_projects(
    sbom_registry: RunningRegistry,
    api: httpx.Client,
    testdata: Path,
    python_app: dict[str, Any],
) -> None:
    # The same image in another project has no SBOM there until one is made.
    create_project(api, "mirror")
    push(sbom_registry, testdata, "python-app", "1.0", "mirror/app:1.0")
    response = sbom_addition(api, "mirror", "app", "1.0")
    assert response.status_code == 404, response.text
    assert referrers(sbom_registry, "mirror/app", PYTHON_APP) == []


# Rejected requests -----------------------------------------------------------


def test_non_image_rejected(
    sbom_registry: RunningRegistry, api: httpx.Client, testdata: Path
) -> None:
    create_project(api, "papers")
    push(sbom_registry, testdata, "artifact", "sbom", "papers/doc:sbom")
    response = api.post(
        f"{artifact_path('papers', 'doc', 'sbom')}/scan", json=SBOM_REQUEST
    )
    assert response.status_code == 400, response.text
    assert "is not a container image" in error_message(response)


def test_sbom_permissions(
    sbom_registry: RunningRegistry, api: httpx.Client, python_app: dict[str, Any]
) -> None:
    guest = ("boms-guest", "Guest-Pass-1")
    add_member(sbom_registry, "boms", create_user(sbom_registry, *guest), GUEST)
    path = artifact_path("boms", "app", "1.0")
    base = f"{sbom_registry.url}/api/v2.0"
    with httpx.Client(base_url=base, auth=guest, timeout=60) as client:
        assert client.get(f"{path}/additions/sbom").status_code == 200
        assert client.post(f"{path}/scan", json=SBOM_REQUEST).status_code == 403
    with httpx.Client(base_url=base, timeout=60) as client:
        assert client.get(f"{path}/additions/sbom").status_code == 401
        assert client.post(f"{path}/scan", json=SBOM_REQUEST).status_code == 401


# Generation on push and for an index -------------------------------------------


def test_sbom_on_push(
    sbom_registry: RunningRegistry, api: httpx.Client, testdata: Path
) -> None:
    create_project(api, "autobom", auto_sbom_generation="true")
    push(sbom_registry, testdata, "java-app", "1.0", "autobom/java:1.0")
    overview = wait_for_sbom(api, "autobom", "java", "1.0")
    digest = api.get(artifact_path("autobom", "java", "1.0")).json()["digest"]
    listed = referrers(sbom_registry, "autobom/java", digest)
    assert sorted(item["artifactType"] for item in listed) == [SPDX, CYCLONEDX]
    assert overview["sbom_digest"] in {item["digest"] for item in listed}

    document = sbom_addition(api, "autobom", "java", "1.0").json()
    names = {package["name"] for package in document["packages"]}
    assert "org.apache.logging.log4j:log4j-core" in names


def test_sbom_of_index_images(
    sbom_registry: RunningRegistry, api: httpx.Client, testdata: Path
) -> None:
    create_project(api, "fleet")
    push(sbom_registry, testdata, "multiarch", "1", "fleet/multi:1")
    response = api.post(
        f"{artifact_path('fleet', 'multi', '1')}/scan", json=SBOM_REQUEST
    )
    assert response.status_code == 202, response.text

    wait_for_sbom(api, "fleet", "multi", ARM64_DIGEST)
    listed = referrers(sbom_registry, "fleet/multi", ARM64_DIGEST)
    assert sorted(item["artifactType"] for item in listed) == [SPDX, CYCLONEDX]
    document = sbom_addition(api, "fleet", "multi", ARM64_DIGEST).json()
    assert "urllib3" in {package["name"] for package in document["packages"]}


# Build history ---------------------------------------------------------------


def test_build_history(
    api: httpx.Client, python_app: dict[str, Any], testdata: Path
) -> None:
    layout = testdata / "images" / "python-app"
    manifest = json.loads(read_blob(layout, PYTHON_APP))
    config = json.loads(read_blob(layout, manifest["config"]["digest"]))

    response = api.get(f"{artifact_path('boms', 'app', '1.0')}/additions/build_history")
    assert response.status_code == 200, response.text
    history = response.json()
    assert history == config["history"]
    assert [item["created_by"] for item in history] == [
        "ADD debian-12-base (os-release, dpkg status) /",
        "RUN pip install --no-deps requests==2.19.0 urllib3==1.24.1 PyYAML==5.3.1 "
        "Jinja2==2.10 Django==3.2.0",
    ]


def test_build_history_of_non_image(
    sbom_registry: RunningRegistry, api: httpx.Client, testdata: Path
) -> None:
    create_project(api, "notes")
    push(sbom_registry, testdata, "artifact", "sbom", "notes/doc:sbom")
    path = artifact_path("notes", "doc", "sbom")
    response = api.get(f"{path}/additions/build_history")
    assert response.status_code == 404, response.text
    assert "has no build history" in error_message(response)


def test_vulnerability_report_leaves_the_sbom_alone(
    sbom_registry: RunningRegistry, api: httpx.Client, testdata: Path
) -> None:
    import_advisories(sbom_registry, testdata / "osv" / "maven.zip")
    create_project(api, "mixed")
    push(sbom_registry, testdata, "java-app", "1.0", "mixed/app:1.0")
    path = artifact_path("mixed", "app", "1.0")
    assert api.post(f"{path}/scan").status_code == 202
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        report = api.get(f"{path}/additions/vulnerabilities").json()
        if report:
            break
        time.sleep(0.2)
    assert api.post(f"{path}/scan", json=SBOM_REQUEST).status_code == 202
    wait_for_sbom(api, "mixed", "app", "1.0")

    for _ in range(2):
        (document,) = api.get(f"{path}/additions/vulnerabilities").json().values()
        ids = [item["id"] for item in document["vulnerabilities"]]
        assert len(ids) == 3
        assert len(set(ids)) == 3
        assert sbom_addition(api, "mixed", "app", "1.0").status_code == 200
