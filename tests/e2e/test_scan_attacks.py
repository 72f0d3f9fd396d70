"""Attacks on scanning: ways around the pull gate and hostile input on the new routes.

One registry of its own runs two worker processes, so a decision cached in
one process must follow a change made through the other. Images are built
from random bytes and pushed over `/v2/`; a never-scanned image in a
project with `prevent_vul` is refused, which is all most gate attacks need.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from seawall.db import Database
from seawall.db.models import ScannerRegistration
from tests.e2e.protocol_helpers import (
    OCI_INDEX,
    index_manifest,
    push_image,
    push_manifest,
)
from tests.support import databases
from tests.support.scanning import import_unrelated_advisory
from tests.support.seed import add_member, create_user
from tests.support.server import ADMIN_PASSWORD, RunningRegistry, start_registry

ADMIN = ("admin", ADMIN_PASSWORD)
GUEST_ROLE = 3
MANIFEST_ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)
SCAN_DEADLINE_SECONDS = 60


@pytest.fixture(scope="module")
def attack_registry(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningRegistry]:
    data_dir = tmp_path_factory.mktemp("attack-registry")
    with (
        databases.test_database_url(tmp_path_factory.mktemp("attack-db")) as url,
        start_registry(data_dir, url, {"SEAWALL_WORKERS": "2"}) as running,
    ):
        import_unrelated_advisory(running, tmp_path_factory.mktemp("attack-advisory"))
        yield running


@pytest.fixture
def api(attack_registry: RunningRegistry) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"{attack_registry.url}/api/v2.0", auth=ADMIN, timeout=60
    ) as client:
        yield client


@pytest.fixture
def admin(attack_registry: RunningRegistry) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=attack_registry.url, auth=ADMIN, timeout=60) as client:
        yield client


def gated_project(api: httpx.Client, *, public: bool = False) -> str:
    name = f"gated-{uuid.uuid4().hex[:10]}"
    metadata = {"prevent_vul": "true", "severity": "high"}
    if public:
        metadata["public"] = "true"
    response = api.post("/projects", json={"project_name": name, "metadata": metadata})
    assert response.status_code == 201, response.text
    return name


def guest(registry: RunningRegistry, project: str) -> tuple[str, str]:
    credentials = (f"guest-{uuid.uuid4().hex[:10]}", "Guest-Pass-1")
    add_member(registry, project, create_user(registry, *credentials), GUEST_ROLE)
    return credentials


def read_manifest(
    registry: RunningRegistry,
    repository: str,
    reference: str,
    auth: tuple[str, str] | None,
    method: str = "GET",
) -> httpx.Response:
    return httpx.request(
        method,
        f"{registry.url}/v2/{repository}/manifests/{reference}",
        auth=auth,
        headers={"Accept": MANIFEST_ACCEPT},
        timeout=60,
    )


def read_blob(
    registry: RunningRegistry,
    repository: str,
    digest: str,
    auth: tuple[str, str] | None,
) -> httpx.Response:
    return httpx.get(
        f"{registry.url}/v2/{repository}/blobs/{digest}", auth=auth, timeout=60
    )


def assert_policy_refusal(response: httpx.Response) -> None:
    assert response.status_code == 412, response.text
    assert response.json()["errors"][0]["code"] == "PROJECTPOLICYVIOLATION"


def scan_and_wait(api: httpx.Client, project: str, repository: str, tag: str) -> str:
    path = f"/projects/{project}/repositories/{repository}/artifacts/{tag}"
    response = api.post(f"{path}/scan")
    assert response.status_code == 202, response.text
    deadline = time.monotonic() + SCAN_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        overviews = (
            api.get(path, params={"with_scan_overview": "true"})
            .json()
            .get("scan_overview")
            or {}
        )
        overview = next(iter(overviews.values()), None)
        if overview and overview["scan_status"] in ("Success", "Error", "Stopped"):
            return str(overview["scan_status"])
        time.sleep(0.2)
    raise AssertionError(f"scan of {project}/{repository}:{tag} did not finish")


# --- the pull gate -----------------------------------------------------------


def test_manifest_bytes_not_served_as_blob(
    attack_registry: RunningRegistry, api: httpx.Client, admin: httpx.Client
) -> None:
    project = gated_project(api)
    repository = f"{project}/app"
    image = push_image(admin, repository, "1.0")
    reader = guest(attack_registry, project)

    assert_policy_refusal(read_manifest(attack_registry, repository, "1.0", reader))
    # The manifest is stored as a blob of the repository too; reading it
    # through the blob route must get the same refusal as a manifest read.
    assert_policy_refusal(read_blob(attack_registry, repository, image.digest, reader))

    # An index pushed by someone else passes the gate itself, but must not
    # open the blob route to the images it lists.
    index = push_manifest(admin, repository, index_manifest([image]), "multi")
    listed = read_manifest(attack_registry, repository, "multi", reader)
    assert listed.status_code == 200, listed.text
    assert_policy_refusal(
        read_manifest(attack_registry, repository, image.digest, reader)
    )
    assert_policy_refusal(read_blob(attack_registry, repository, image.digest, reader))
    # The index's own bytes are served either way, as a manifest or a blob.
    assert read_blob(attack_registry, repository, index.digest, reader).content == (
        index.body
    )


def test_reference_spellings_do_not_pass(
    attack_registry: RunningRegistry, api: httpx.Client, admin: httpx.Client
) -> None:
    project = gated_project(api, public=True)
    repository = f"{project}/app"
    image = push_image(admin, repository, "1.0")
    hex_digest = image.digest.removeprefix("sha256:")
    spellings = [
        image.digest,
        f"sha256:{hex_digest.upper()}",
        f"SHA256:{hex_digest}",
        f"sha256%3A{hex_digest}",
        "1.0",
        "1.0%00",
        "1.0%20",
        "1.0/",
    ]
    for reader in (None, guest(attack_registry, project)):
        for reference in spellings:
            for method in ("GET", "HEAD"):
                response = read_manifest(
                    attack_registry, repository, reference, reader, method
                )
                assert response.status_code != 200, (reference, method, reader)
                assert response.status_code < 500, (reference, method, reader)
        for name in (repository.upper(), f"{project}//app", f"{project}/./app"):
            response = read_manifest(attack_registry, name, "1.0", reader)
            assert response.status_code != 200, (name, reader)
            assert response.status_code < 500, (name, reader)


def test_referrers_and_harbor_api_serve_no_manifest(
    attack_registry: RunningRegistry, api: httpx.Client, admin: httpx.Client
) -> None:
    project = gated_project(api)
    repository = f"{project}/app"
    image = push_image(admin, repository, "1.0")
    reader = guest(attack_registry, project)
    referrers = httpx.get(
        f"{attack_registry.url}/v2/{repository}/referrers/{image.digest}",
        auth=reader,
        timeout=60,
    )
    assert referrers.status_code == 200, referrers.text
    assert referrers.json()["mediaType"] == OCI_INDEX
    base = f"{attack_registry.url}/api/v2.0/projects/{project}/repositories/app"
    for path in (
        "/artifacts/1.0",
        f"/artifacts/{image.digest}",
        "/artifacts/1.0/tags",
        "/artifacts/1.0/additions/build_history",
    ):
        response = httpx.get(base + path, auth=reader, timeout=60)
        assert response.status_code < 500, (path, response.text)
        assert image.body not in response.content, path


def test_scanner_choice_moves_cached_decision(
    attack_registry: RunningRegistry, api: httpx.Client, admin: httpx.Client
) -> None:
    project = gated_project(api)
    repository = f"{project}/app"
    push_image(admin, repository, "1.0")
    assert scan_and_wait(api, project, "app", "1.0") == "Success"
    reader = guest(attack_registry, project)
    # Read twice so that each of the two worker processes likely caches it.
    for _ in range(4):
        allowed = read_manifest(attack_registry, repository, "1.0", reader)
        assert allowed.status_code == 200, allowed.text

    # Another registration, stored without an adapter to call: the project's
    # choice of it is what must reach the gate, and it never scanned the image.
    other = str(uuid.uuid4())
    database = Database(attack_registry.database_url)
    try:
        with database.session() as session:
            session.add(
                ScannerRegistration(
                    uuid=other,
                    name=f"other-{other[:8]}",
                    url=f"http://127.0.0.1:9/{other}",
                )
            )
    finally:
        database.dispose()
    response = api.put(f"/projects/{project}/scanner", json={"uuid": other})
    assert response.status_code == 200, response.text
    for _ in range(4):
        assert_policy_refusal(read_manifest(attack_registry, repository, "1.0", reader))


def test_scanner_pull_token_not_given_to_users(
    attack_registry: RunningRegistry, api: httpx.Client, admin: httpx.Client
) -> None:
    project = gated_project(api)
    repository = f"{project}/app"
    push_image(admin, repository, "1.0")
    reader = guest(attack_registry, project)
    for credentials in (reader, ADMIN):
        body = httpx.get(
            f"{attack_registry.url}/service/token",
            params={
                "service": "harbor-registry",
                "scope": f"repository:{repository}:pull,scanner-pull,*",
            },
            auth=credentials,
            timeout=60,
        ).json()
        response = httpx.get(
            f"{attack_registry.url}/v2/{repository}/manifests/1.0",
            headers={
                "Authorization": f"Bearer {body['token']}",
                "Accept": MANIFEST_ACCEPT,
            },
            timeout=60,
        )
        assert_policy_refusal(response)


def test_refusals_are_logged_with_reason(
    attack_registry: RunningRegistry, api: httpx.Client, admin: httpx.Client
) -> None:
    project = gated_project(api)
    repository = f"{project}/logged"
    image = push_image(admin, repository, "1.0")
    reader = guest(attack_registry, project)
    assert_policy_refusal(read_blob(attack_registry, repository, image.digest, reader))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        log = attack_registry.log_path.read_text(errors="replace")
        lines = [
            line
            for line in log.splitlines()
            if repository in line and "refused by the vulnerability gate" in line
        ]
        if lines:
            break
        time.sleep(0.2)
    assert lines, "the blob refusal was not logged"
    assert "the artifact was never scanned" in lines[-1]


# --- hostile input on the new routes ------------------------------------------


def test_export_glob_bombs_are_rejected_fast(
    attack_registry: RunningRegistry, api: httpx.Client, admin: httpx.Client
) -> None:
    project = gated_project(api)
    push_image(admin, f"{project}/{'a' * 200}", "1.0")
    project_id = api.get(f"/projects/{project}").json()["project_id"]
    headers = {
        "X-Scan-Data-Type": "application/vnd.security.vulnerability.report; version=1.1"
    }

    started = time.monotonic()
    exploding = api.post(
        "/export/cve",
        json={"projects": [project_id], "repositories": "{a,b}" * 30},
        headers=headers,
    )
    assert exploding.status_code == 400, exploding.text
    assert "more than 256 alternatives" in exploding.text

    # Stars that make a regular expression backtrack for minutes.
    backtracking = api.post(
        "/export/cve",
        json={"projects": [project_id], "repositories": "*a" * 40 + "*b"},
        headers=headers,
    )
    assert backtracking.status_code == 200, backtracking.text
    assert time.monotonic() - started < 30
    execution = api.get(f"/export/cve/execution/{backtracking.json()['id']}")
    assert execution.json()["status"] == "Success"


def test_scanner_url_credentials_not_echoed(
    attack_registry: RunningRegistry, api: httpx.Client
) -> None:
    secret = "Hunter2-" + uuid.uuid4().hex
    for path in ("/scanners", "/scanners/ping"):
        response = api.post(
            path, json={"name": "leaky", "url": f"http://user:{secret}@127.0.0.1:9"}
        )
        assert response.status_code == 400, response.text
        assert secret not in response.text
    assert secret not in attack_registry.log_path.read_text(errors="replace")
    for url in ("file:///etc/passwd", "ftp://127.0.0.1/", "gopher://127.0.0.1:70"):
        response = api.post("/scanners/ping", json={"name": "odd", "url": url})
        assert response.status_code == 400, (url, response.text)
