"""Harbor's pluggable scanner API in both directions.

`AdapterClient` is driven against a scripted adapter of the tests' own,
and `seawall scanner serve` is driven by the same client: it pulls an image
that skopeo pushed to a live registry and matches it against advisories
imported with `seawall vulndb import`.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from seawall.scan.adapter import AdapterClient, AdapterError
from seawall.scan.adapter.spec import (
    API_KEY_HEADER,
    DATABASE_UPDATED_PROPERTY,
    SCAN_REQUEST_MIME,
    ScanRequest,
)
from seawall.scan.model import Severity
from seawall.scan.reports import (
    GENERIC_REPORT_MIME,
    HARBOR_REPORT_MIME,
    SBOM_REPORT_MIME,
    findings_from_report,
)
from tests.support.scanner_adapter import (
    ScriptedAdapter,
    scripted_adapter,
)
from tests.support.server import ADMIN_PASSWORD, RunningRegistry, free_port

SEAWALL = [sys.executable, "-m", "seawall"]
NODE_APP_DIGEST = (
    "sha256:8b0401c8d7d4d5fa203e73c54bcc629c14ac1b750db78e81979ddae9f8a2e77d"
)
MULTIARCH_DIGEST = (
    "sha256:ca6b557dc28fa39a232d6eaaa9f1ad97ab133774fa3ace59afa2b7cb1e16b3cb"
)
API_KEY = "adapter-test-key-" + "7" * 16
SCAN_DEADLINE_SECONDS = 120


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def scan_request(
    registry_url: str, repository: str, digest: str, auth: str
) -> ScanRequest:
    return ScanRequest.for_artifact(
        registry_url=registry_url,
        authorization=auth,
        repository=repository,
        digest=digest,
        mime_type="application/vnd.oci.image.manifest.v1+json",
    )


# --- AdapterClient against the scripted adapter -----------------------------


@pytest.fixture
def adapter() -> Iterator[ScriptedAdapter]:
    with scripted_adapter() as running:
        yield running


def test_client_reads_good_metadata(adapter: ScriptedAdapter) -> None:
    with AdapterClient(adapter.url) as client:
        metadata = client.metadata()

    assert metadata.scanner.name == "Scripted"
    assert metadata.capabilities[0].type == "vulnerability"
    assert metadata.produces == [GENERIC_REPORT_MIME, HARBOR_REPORT_MIME]
    request = adapter.requests_to("/api/v1/metadata")[0]
    assert request.headers["accept"].startswith(
        "application/vnd.scanner.adapter.metadata"
    )


def test_client_accepts_typed_capabilities(adapter: ScriptedAdapter) -> None:
    adapter.script.metadata["capabilities"].insert(
        0,
        {
            "type": "sbom",
            "consumes_mime_types": ["application/vnd.oci.image.manifest.v1+json"],
            "produces_mime_types": [SBOM_REPORT_MIME],
        },
    )
    adapter.script.metadata["capabilities"][1]["type"] = "vulnerability"

    with AdapterClient(adapter.url) as client:
        metadata = client.metadata()

    assert metadata.produces == [GENERIC_REPORT_MIME, HARBOR_REPORT_MIME]


def _metadata_without_name(data: dict[str, Any]) -> None:
    data["scanner"]["name"] = ""


def _metadata_without_version(data: dict[str, Any]) -> None:
    del data["scanner"]["version"]


def _metadata_without_capabilities(data: dict[str, Any]) -> None:
    data["capabilities"] = []


def _metadata_for_other_artifacts(data: dict[str, Any]) -> None:
    data["capabilities"][0]["consumes_mime_types"] = [
        "application/vnd.cncf.helm.config.v1+json"
    ]


def _metadata_with_sbom_only(data: dict[str, Any]) -> None:
    data["capabilities"][0]["type"] = "sbom"


def _metadata_without_scanner(data: dict[str, Any]) -> None:
    del data["scanner"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_metadata_without_name, "empty scanner name"),
        (_metadata_without_version, "empty scanner version"),
        (_metadata_without_capabilities, "no capabilities"),
        (_metadata_for_other_artifacts, "no vulnerability capability"),
        (_metadata_with_sbom_only, "no vulnerability capability"),
        (_metadata_without_scanner, "invalid metadata: scanner"),
    ],
)
def test_client_rejects_bad_metadata(
    adapter: ScriptedAdapter, change: Any, message: str
) -> None:
    change(adapter.script.metadata)

    with (
        AdapterClient(adapter.url) as client,
        pytest.raises(AdapterError, match=message),
    ):
        client.metadata()


def test_client_reports_metadata_error_body(adapter: ScriptedAdapter) -> None:
    adapter.script.metadata_status = 503

    with (
        AdapterClient(adapter.url) as client,
        pytest.raises(AdapterError, match="HTTP 503: metadata unavailable"),
    ):
        client.metadata()


def test_client_rejects_metadata_not_json(adapter: ScriptedAdapter) -> None:
    adapter.script.metadata = "not an object"

    with (
        AdapterClient(adapter.url) as client,
        pytest.raises(AdapterError, match="invalid"),
    ):
        client.metadata()


@pytest.mark.parametrize(
    ("auth", "credential", "header", "value"),
    [
        ("Basic", "robot:secret", "authorization", "Basic cm9ib3Q6c2VjcmV0"),
        ("Bearer", "token-123", "authorization", "Bearer token-123"),
        ("APIKey", "key-456", "x-scanneradapter-api-key", "key-456"),
        (API_KEY_HEADER, "key-789", "x-scanneradapter-api-key", "key-789"),
    ],
)
def test_client_sends_auth_headers(
    adapter: ScriptedAdapter, auth: str, credential: str, header: str, value: str
) -> None:
    request = scan_request(
        "https://registry.example", "library/app", "sha256:" + "1" * 64, "Basic x"
    )

    with AdapterClient(adapter.url, auth=auth, credential=credential) as client:
        client.metadata()
        client.scan(request)

    for recorded in adapter.requests:
        assert recorded.headers.get(header) == value, recorded.path


def test_client_without_auth_sends_none(adapter: ScriptedAdapter) -> None:
    with AdapterClient(adapter.url) as client:
        client.metadata()

    recorded = adapter.requests[0]
    assert "authorization" not in recorded.headers
    assert "x-scanneradapter-api-key" not in recorded.headers


def test_client_rejects_bad_settings() -> None:
    with pytest.raises(AdapterError, match="unknown adapter auth type"):
        AdapterClient("http://127.0.0.1:1", auth="Digest", credential="x")
    with pytest.raises(AdapterError, match="needs a credential"):
        AdapterClient("http://127.0.0.1:1", auth="Bearer")
    with pytest.raises(AdapterError, match="not an http or https URL"):
        AdapterClient("ftp://127.0.0.1:1")


def test_client_scan_sends_request(adapter: ScriptedAdapter) -> None:
    request = scan_request(
        "https://registry.example", "library/app", "sha256:" + "2" * 64, "Bearer abc"
    )

    with AdapterClient(adapter.url) as client:
        scan_id = client.scan(request)

    assert scan_id in adapter.polls
    recorded = adapter.requests_to("/api/v1/scan")[0]
    assert recorded.headers["content-type"] == SCAN_REQUEST_MIME
    body = json.loads(recorded.body)
    assert body["registry"] == {
        "url": "https://registry.example",
        "authorization": "Bearer abc",
    }
    assert body["artifact"]["repository"] == "library/app"
    assert body["artifact"]["digest"] == "sha256:" + "2" * 64


def test_client_scan_error_body(adapter: ScriptedAdapter) -> None:
    adapter.script.scan_error = (422, "artifact.digest is invalid")
    request = scan_request(
        "https://registry.example", "library/app", "sha256:" + "3" * 64, "x"
    )

    with (
        AdapterClient(adapter.url) as client,
        pytest.raises(AdapterError, match=r"HTTP 422: artifact\.digest is invalid"),
    ):
        client.scan(request)


def test_client_polls_until_report(adapter: ScriptedAdapter) -> None:
    request = scan_request(
        "https://registry.example", "library/app", "sha256:" + "4" * 64, "x"
    )

    with AdapterClient(adapter.url) as client:
        scan_id = client.scan(request)
        started = time.monotonic()
        document = client.report(
            scan_id, GENERIC_REPORT_MIME, poll_until=time.monotonic() + 30
        )
        elapsed = time.monotonic() - started

    report_requests = adapter.requests_to("/report")
    assert len(report_requests) == 3
    assert all(r.headers["accept"] == GENERIC_REPORT_MIME for r in report_requests)
    assert elapsed >= 1.9  # two waits of Refresh-After: 1
    findings = findings_from_report(GENERIC_REPORT_MIME, document)
    assert [f.id for f in findings] == ["CVE-2021-23337", "CVE-2021-44906"]
    assert findings[0].ids == ["CVE-2021-23337", "GHSA-35jh-r3h4-6jhm"]
    assert findings[1].severity is Severity.CRITICAL


def test_client_ignores_302_location(adapter: ScriptedAdapter) -> None:
    adapter.script.pending_polls = 1
    adapter.script.redirect_location = "http://127.0.0.2:9/elsewhere"
    request = scan_request(
        "https://registry.example", "library/app", "sha256:" + "5" * 64, "x"
    )

    with AdapterClient(adapter.url) as client:
        scan_id = client.scan(request)
        document = client.report(
            scan_id, HARBOR_REPORT_MIME, poll_until=time.monotonic() + 30
        )

    assert len(document["vulnerabilities"]) == 2
    assert len(adapter.requests_to("/report")) == 2
    assert not adapter.requests_to("/elsewhere")


def test_client_deadline_exceeded(adapter: ScriptedAdapter) -> None:
    adapter.script.pending_polls = 1000
    request = scan_request(
        "https://registry.example", "library/app", "sha256:" + "6" * 64, "x"
    )

    with AdapterClient(adapter.url) as client:
        scan_id = client.scan(request)
        started = time.monotonic()
        with pytest.raises(AdapterError, match="before the deadline"):
            client.report(
                scan_id, GENERIC_REPORT_MIME, poll_until=time.monotonic() + 2.5
            )
        elapsed = time.monotonic() - started

    assert 2.4 <= elapsed < 10
    assert 3 <= len(adapter.requests_to("/report")) <= 4


def test_client_bad_refresh_after_waits_default(adapter: ScriptedAdapter) -> None:
    adapter.script.pending_polls = 1000
    adapter.script.refresh_after = "soon"
    request = scan_request(
        "https://registry.example", "library/app", "sha256:" + "7" * 64, "x"
    )

    with AdapterClient(adapter.url) as client:
        scan_id = client.scan(request)
        with pytest.raises(AdapterError, match="before the deadline"):
            client.report(
                scan_id, GENERIC_REPORT_MIME, poll_until=time.monotonic() + 1.5
            )

    # The default wait of 5 s is cut at the deadline, so one wait happens.
    assert len(adapter.requests_to("/report")) == 2


def test_client_report_error_body(adapter: ScriptedAdapter) -> None:
    adapter.script.pending_polls = 0
    adapter.script.report_error = (500, "advisory database is corrupt")
    request = scan_request(
        "https://registry.example", "library/app", "sha256:" + "8" * 64, "x"
    )

    with AdapterClient(adapter.url) as client:
        scan_id = client.scan(request)
        with pytest.raises(
            AdapterError, match="HTTP 500: advisory database is corrupt"
        ):
            client.report(
                scan_id, GENERIC_REPORT_MIME, poll_until=time.monotonic() + 10
            )


def test_client_unknown_scan_id(adapter: ScriptedAdapter) -> None:
    with (
        AdapterClient(adapter.url) as client,
        pytest.raises(AdapterError, match="HTTP 404: scan no-such-scan not found"),
    ):
        client.report(
            "no-such-scan", GENERIC_REPORT_MIME, poll_until=time.monotonic() + 5
        )


def test_client_unreachable_adapter() -> None:
    with (
        AdapterClient(f"http://127.0.0.1:{free_port()}", timeout=5) as client,
        pytest.raises(AdapterError, match="could not be reached"),
    ):
        client.metadata()


# --- `seawall scanner serve` -----------------------------------------------


@dataclass(frozen=True)
class RunningAdapter:
    url: str
    data_dir: Path
    log_path: Path
    temp_dir: Path  # TMPDIR of the adapter, where it stores pulled layers


def run_seawall(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SEAWALL, *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=adapter_environment(),
        check=False,
    )


def adapter_environment(temp_dir: Path | None = None) -> dict[str, str]:
    # The adapter takes its settings from its options alone, not from the
    # registry's SEAWALL_* variables of the test process.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("SEAWALL_")
    }
    if temp_dir is not None:
        env["TMPDIR"] = str(temp_dir)
    return env


def wait_for_adapter(
    url: str, process: subprocess.Popen[bytes], log_path: Path
) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"scanner adapter exited early:\n{log_path.read_text()[-4000:]}"
            )
        try:
            httpx.get(f"{url}/api/v1/metadata", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(
        f"scanner adapter did not respond within 60 s:\n{log_path.read_text()[-4000:]}"
    )


@pytest.fixture(scope="module")
def seawall_adapter(
    tmp_path_factory: pytest.TempPathFactory, testdata: Path
) -> Iterator[RunningAdapter]:
    """`seawall scanner serve` on its own SQLite database with npm advisories."""
    data_dir = tmp_path_factory.mktemp("adapter-data")
    database_url = f"sqlite:///{data_dir / 'adapter.db'}"
    settings = ["--data-dir", str(data_dir), "--database-url", database_url]
    imported = run_seawall(
        "vulndb", "import", *settings, str(testdata / "osv" / "npm.zip")
    )
    assert imported.returncode == 0, imported.stderr[-4000:]

    key_file = data_dir / "api-key"
    key_file.write_text(API_KEY + "\n")
    url = f"http://127.0.0.1:{free_port()}"
    log_path = data_dir / "adapter.log"
    temp_dir = data_dir / "tmp"
    temp_dir.mkdir()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                *SEAWALL,
                "scanner",
                "serve",
                "--listen",
                url.removeprefix("http://"),
                "--api-key-file",
                str(key_file),
                *settings,
            ],
            env=adapter_environment(temp_dir),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_adapter(url, process, log_path)
        yield RunningAdapter(url, data_dir, log_path, temp_dir)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def seawall_client(seawall_adapter: RunningAdapter) -> Iterator[AdapterClient]:
    with AdapterClient(
        seawall_adapter.url, auth="APIKey", credential=API_KEY, timeout=30
    ) as client:
        yield client


@pytest.fixture
def raw_adapter(seawall_adapter: RunningAdapter) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"{seawall_adapter.url}/api/v1",
        headers={API_KEY_HEADER: API_KEY},
        timeout=30,
    ) as client:
        yield client


def push_image(registry: RunningRegistry, testdata: Path, image: str, tag: str) -> str:
    """Copy a test layout into a new repository with skopeo and return its name."""
    skopeo = shutil.which("skopeo")
    if skopeo is None:
        pytest.fail(
            "skopeo not found on PATH; install it with `apt-get install -y skopeo`"
        )
    repository = f"library/{image}-{uuid.uuid4().hex[:10]}"
    result = subprocess.run(
        [
            skopeo,
            "copy",
            "--all",
            "--dest-tls-verify=false",
            "--dest-creds",
            f"admin:{ADMIN_PASSWORD}",
            f"oci:{testdata / 'images' / image}:{tag}",
            f"docker://{registry.host}/{repository}:{tag}",
        ],
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-4000:]
    return repository


@pytest.fixture(scope="module")
def node_app(registry: RunningRegistry, testdata: Path) -> str:
    return push_image(registry, testdata, "node-app", "1.0")


def expected_node_app(testdata: Path) -> dict[str, dict[str, Any]]:
    kit = json.loads((testdata / "expected-findings.json").read_text())
    return {finding["id"]: finding for finding in kit["node-app:1.0"]["findings"]}


def test_serve_metadata(seawall_client: AdapterClient) -> None:
    metadata = seawall_client.metadata()

    assert metadata.scanner.name == "Seawall"
    assert metadata.scanner.vendor == "Seawall"
    assert metadata.produces == [GENERIC_REPORT_MIME, HARBOR_REPORT_MIME]
    assert metadata.properties[DATABASE_UPDATED_PROPERTY].endswith("Z")


def test_serve_rejects_wrong_api_key(seawall_adapter: RunningAdapter) -> None:
    with (
        AdapterClient(
            seawall_adapter.url, auth="APIKey", credential="wrong-key"
        ) as client,
        pytest.raises(AdapterError, match="HTTP 401: missing or invalid API key"),
    ):
        client.metadata()
    with (
        AdapterClient(seawall_adapter.url) as client,
        pytest.raises(AdapterError, match="HTTP 401"),
    ):
        client.metadata()


def test_serve_accepts_key_as_bearer(seawall_adapter: RunningAdapter) -> None:
    with AdapterClient(
        seawall_adapter.url, auth="Bearer", credential=API_KEY
    ) as client:
        assert client.metadata().scanner.name == "Seawall"


def test_serve_scans_node_app(
    seawall_adapter: RunningAdapter,
    seawall_client: AdapterClient,
    registry: RunningRegistry,
    node_app: str,
    testdata: Path,
) -> None:
    request = scan_request(
        registry.url, node_app, NODE_APP_DIGEST, basic("admin", ADMIN_PASSWORD)
    )

    scan_id = seawall_client.scan(request)
    deadline = time.monotonic() + SCAN_DEADLINE_SECONDS
    generic = seawall_client.report(scan_id, GENERIC_REPORT_MIME, poll_until=deadline)
    harbor = seawall_client.report(scan_id, HARBOR_REPORT_MIME, poll_until=deadline)

    expected = expected_node_app(testdata)
    findings = findings_from_report(GENERIC_REPORT_MIME, generic)
    found = {
        advisory: finding
        for finding in findings
        for advisory in finding.ids
        if advisory in expected
    }
    assert sorted(found) == sorted(expected)
    assert len(findings) == 6
    for advisory, finding in found.items():
        assert finding.package == expected[advisory]["package"], advisory
        assert finding.version == expected[advisory]["installed"], advisory
        assert finding.fix_version == expected[advisory]["fixed_in"], advisory
        assert finding.severity.name == expected[advisory]["severity"], advisory
    assert generic["artifact"]["digest"] == NODE_APP_DIGEST
    assert generic["artifact"]["repository"] == node_app
    assert generic["scanner"]["name"] == "Seawall"
    assert generic["severity"] == "Critical"
    assert len(harbor["vulnerabilities"]) == 6
    assert "preferred_cvss" not in harbor["vulnerabilities"][0]
    assert list(seawall_adapter.temp_dir.iterdir()) == []


def test_serve_refused_registry_credentials(
    seawall_client: AdapterClient, registry: RunningRegistry, node_app: str
) -> None:
    request = scan_request(
        registry.url, node_app, NODE_APP_DIGEST, basic("admin", "wrong")
    )

    scan_id = seawall_client.scan(request)
    with pytest.raises(
        AdapterError, match="HTTP 500: pulling the image failed"
    ) as caught:
        seawall_client.report(
            scan_id,
            GENERIC_REPORT_MIME,
            poll_until=time.monotonic() + SCAN_DEADLINE_SECONDS,
        )

    assert "rejected the credentials" in str(caught.value)
    assert node_app in str(caught.value)


def test_serve_unknown_manifest(
    seawall_client: AdapterClient, registry: RunningRegistry, node_app: str
) -> None:
    missing = "sha256:" + "0" * 64
    request = scan_request(
        registry.url, node_app, missing, basic("admin", ADMIN_PASSWORD)
    )

    scan_id = seawall_client.scan(request)
    with pytest.raises(AdapterError, match=f"no manifest {missing}"):
        seawall_client.report(
            scan_id,
            GENERIC_REPORT_MIME,
            poll_until=time.monotonic() + SCAN_DEADLINE_SECONDS,
        )


def test_serve_image_index(
    seawall_client: AdapterClient, registry: RunningRegistry, testdata: Path
) -> None:
    repository = push_image(registry, testdata, "multiarch", "1")
    request = scan_request(
        registry.url, repository, MULTIARCH_DIGEST, basic("admin", ADMIN_PASSWORD)
    )

    scan_id = seawall_client.scan(request)
    with pytest.raises(AdapterError, match="is an image index"):
        seawall_client.report(
            scan_id,
            GENERIC_REPORT_MIME,
            poll_until=time.monotonic() + SCAN_DEADLINE_SECONDS,
        )


VALID_BODY: dict[str, Any] = {
    "registry": {"url": "http://127.0.0.1:1", "authorization": "Basic eDp5"},
    "artifact": {"repository": "library/app", "digest": "sha256:" + "9" * 64},
}


def changed_body(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(json.dumps(VALID_BODY))
    target = body
    for key in path[:-1]:
        target = target[key]
    if value is None:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return body


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (changed_body(("registry",), None), 422, "registry is missing"),
        (changed_body(("registry", "url"), None), 422, "registry.url is missing"),
        (
            changed_body(("registry", "authorization"), None),
            422,
            "registry.authorization is missing",
        ),
        (changed_body(("artifact", "digest"), None), 422, "artifact.digest is missing"),
        (
            changed_body(("artifact", "repository"), None),
            422,
            "artifact.repository is missing",
        ),
        (
            changed_body(("artifact", "digest"), "sha256:abc"),
            422,
            "artifact.digest must be",
        ),
        (
            changed_body(("artifact", "repository"), "../etc"),
            422,
            "not a valid repository name",
        ),
        (
            changed_body(("registry", "url"), "file:///etc/passwd"),
            422,
            "http or https URL",
        ),
        (
            changed_body(("registry", "url"), "http://user:pw@127.0.0.1:1"),
            422,
            "without credentials",
        ),
        (changed_body(("artifact",), "library/app"), 400, "artifact"),
        (changed_body(("registry", "url"), 5), 400, "registry.url"),
        (
            changed_body(
                ("artifact", "mime_type"), "application/vnd.cncf.helm.config.v1+json"
            ),
            501,
            "cannot be scanned",
        ),
        (
            changed_body(("enabled_capabilities",), [{"type": "sbom"}]),
            501,
            "SBOMs are not produced",
        ),
    ],
)
def test_serve_rejects_bad_scan_requests(
    raw_adapter: httpx.Client, body: dict[str, Any], status: int, message: str
) -> None:
    response = raw_adapter.post(
        "/scan", json=body, headers={"Content-Type": SCAN_REQUEST_MIME}
    )

    assert response.status_code == status, response.text
    assert message in response.json()["error"]["message"]


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b"\xff\xfe"])
def test_serve_rejects_non_object_bodies(
    raw_adapter: httpx.Client, content: bytes
) -> None:
    response = raw_adapter.post(
        "/scan", content=content, headers={"Content-Type": SCAN_REQUEST_MIME}
    )

    assert response.status_code == 400
    assert "error" in response.json()


def test_serve_rejects_huge_body(raw_adapter: httpx.Client) -> None:
    response = raw_adapter.post("/scan", content=b"{" + b" " * 100_000 + b"}")

    assert response.status_code == 413


def test_serve_unknown_scan_id(raw_adapter: httpx.Client) -> None:
    response = raw_adapter.get(
        f"/scan/{uuid.uuid4()}/report", headers={"Accept": GENERIC_REPORT_MIME}
    )

    assert response.status_code == 404
    assert "not found" in response.json()["error"]["message"]


def test_serve_pending_then_unsupported_mime(raw_adapter: httpx.Client) -> None:
    # A registry on a closed port makes the scan fail. The server checks the
    # media type before the scan state, so 501 comes back in either state.
    accepted = raw_adapter.post(
        "/scan",
        json=changed_body(("registry", "url"), f"http://127.0.0.1:{free_port()}"),
    )
    assert accepted.status_code == 202
    scan_id = accepted.json()["id"]

    unsupported = raw_adapter.get(
        f"/scan/{scan_id}/report", headers={"Accept": SBOM_REPORT_MIME}
    )
    assert unsupported.status_code == 501
    assert "not produced by this adapter" in unsupported.json()["error"]["message"]

    deadline = time.monotonic() + 30
    while True:
        response = raw_adapter.get(
            f"/scan/{scan_id}/report", headers={"Accept": HARBOR_REPORT_MIME}
        )
        if response.status_code != 302 or time.monotonic() > deadline:
            break
        assert response.headers["Refresh-After"].isdigit()
        time.sleep(0.2)
    assert response.status_code == 500
    assert "could not be reached" in response.json()["error"]["message"]


def test_serve_unknown_route(raw_adapter: httpx.Client) -> None:
    response = raw_adapter.get("/nothing-here")

    assert response.status_code == 404
    assert "not found" in response.json()["error"]["message"]
