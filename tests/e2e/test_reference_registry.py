"""Run the same `/v2/` requests against Seawall and Distribution 2.8 and compare.

Each test runs one scenario, a short sequence of protocol requests, once on
the reference registry (Debian's `docker-registry`, Distribution 2.8, no
authentication) and once on Seawall (admin Basic credentials). Every request
is a named step, and the two registries must agree on each step's status
code, OCI error code and key headers. The steps listed in `DIFFERENCES` are
the exceptions: there the registries differ on purpose, each side must
return exactly what the table states, and docs/compatibility.md explains why.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import httpx
import pytest

from tests.support.oci_layout import read_blob, sha256_digest, tagged_manifest
from tests.support.reference import (
    ReferenceRegistry,
    ReferenceRegistryMissing,
    start_reference_registry,
)
from tests.support.server import ADMIN_PASSWORD, RunningRegistry

SEAWALL = "seawall"
DISTRIBUTION = "distribution 2.8"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
EMPTY_CONFIG = b"{}"
UNKNOWN_DIGEST = "sha256:" + "1" * 64
ACCEPT_OCI = {"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"}


@dataclass(frozen=True)
class Observation:
    """The response of one registry to one step, normalized for comparison."""

    status: int
    error_code: str | None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None


@dataclass(frozen=True)
class Expected:
    """The documented result of a step on one registry.

    `error_code` may be `ANY_ERROR_CODE`. `headers` and `body` are checked
    only when they are not `None`, and a header listed with the value
    `ABSENT` must be missing from the response. Strings such as
    `"<repository>"` are placeholders that the test fills in.
    """

    status: int
    error_code: str | None = None
    headers: Mapping[str, str] | None = None
    body: Any = None


@dataclass(frozen=True)
class Difference:
    seawall: Expected
    distribution: Expected


# The `code` values that OCI Distribution v1.0 and v1.1 allow in an error body.
SPEC_ERROR_CODES = {
    "BLOB_UNKNOWN",
    "BLOB_UPLOAD_INVALID",
    "BLOB_UPLOAD_UNKNOWN",
    "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN",
    "MANIFEST_INVALID",
    "MANIFEST_UNKNOWN",
    "NAME_INVALID",
    "NAME_UNKNOWN",
    "SIZE_INVALID",
    "UNAUTHORIZED",
    "DENIED",
    "UNSUPPORTED",
    "TOOMANYREQUESTS",
}
ABSENT = "<absent>"
ANY_ERROR_CODE = "<any error code>"
NON_JSON = "<non-JSON body>"
TRUNCATED = "<truncated body>"

SERVED_AS_PUSHED = {"content-type": OCI_MANIFEST, "docker-content-digest": "<digest>"}
ALL_TAGS_BODY = {"name": "<repository>", "tags": ["beta", "latest", "v1", "v2", "v3"]}

# Steps where Seawall deliberately differs from Distribution 2.8. Every entry
# has a row in docs/compatibility.md that gives the OCI Distribution v1.1 rule.
DIFFERENCES: dict[str, Difference] = {
    "base: GET /v2/ anonymously": Difference(
        seawall=Expected(401, "UNAUTHORIZED"),
        distribution=Expected(200),
    ),
    "upload: single POST with digest": Difference(
        seawall=Expected(201, headers={"docker-content-digest": "<digest>"}),
        distribution=Expected(202),
    ),
    "blob: HEAD after single POST": Difference(
        seawall=Expected(200),
        distribution=Expected(404),
    ),
    "upload: PATCH chunk that skips bytes": Difference(
        seawall=Expected(416, "BLOB_UPLOAD_INVALID"),
        distribution=Expected(202),
    ),
    "upload: GET status after skipped chunk": Difference(
        seawall=Expected(204, headers={"range": "0-2"}),
        distribution=Expected(204, headers={"range": "0-5"}),
    ),
    "name: uppercase repository": Difference(
        seawall=Expected(400, "NAME_INVALID"),
        distribution=Expected(404, NON_JSON),
    ),
    "name: double dot component": Difference(
        seawall=Expected(400, "NAME_INVALID"),
        distribution=Expected(404, NON_JSON),
    ),
    "manifest: PUT with subject": Difference(
        seawall=Expected(201, headers={"oci-subject": "<subject>"}),
        distribution=Expected(201, headers={"oci-subject": ABSENT}),
    ),
    "referrers: GET": Difference(
        seawall=Expected(200, headers={"content-type": OCI_INDEX}),
        distribution=Expected(404, NON_JSON),
    ),
    "referrers: GET filtered by artifactType": Difference(
        seawall=Expected(200, headers={"content-type": OCI_INDEX}),
        distribution=Expected(404, NON_JSON),
    ),
    "manifest: DELETE by tag": Difference(
        seawall=Expected(202),
        distribution=Expected(400, "DIGEST_INVALID"),
    ),
    "manifest: GET by tag after tag delete": Difference(
        seawall=Expected(404, "MANIFEST_UNKNOWN"),
        distribution=Expected(200),
    ),
    "manifest: GET by tag without Accept": Difference(
        seawall=Expected(200, headers=SERVED_AS_PUSHED),
        distribution=Expected(404, "MANIFEST_UNKNOWN"),
    ),
    "manifest: GET by digest without Accept": Difference(
        seawall=Expected(200, headers=SERVED_AS_PUSHED),
        distribution=Expected(404, "MANIFEST_UNKNOWN"),
    ),
    "upload: GET unknown": Difference(
        seawall=Expected(404, "BLOB_UPLOAD_UNKNOWN"),
        distribution=Expected(404, "BLOB_UPLOAD_INVALID"),
    ),
    "upload: PATCH unknown": Difference(
        seawall=Expected(404, "BLOB_UPLOAD_UNKNOWN"),
        distribution=Expected(404, "BLOB_UPLOAD_INVALID"),
    ),
    "upload: PUT unknown": Difference(
        seawall=Expected(404, "BLOB_UPLOAD_UNKNOWN"),
        distribution=Expected(404, "BLOB_UPLOAD_INVALID"),
    ),
    "upload: DELETE unknown": Difference(
        seawall=Expected(404, "BLOB_UPLOAD_UNKNOWN"),
        distribution=Expected(404, "BLOB_UPLOAD_INVALID"),
    ),
    "blob: GET range past the end": Difference(
        seawall=Expected(416, "SIZE_INVALID", headers={"content-range": "bytes */10"}),
        distribution=Expected(416, TRUNCATED, headers={"content-range": "bytes */10"}),
    ),
    "tags: n=2": Difference(
        seawall=Expected(
            200,
            headers={"link": '</v2/<repository>/tags/list?last=latest&n=2>;rel="next"'},
            body={"name": "<repository>", "tags": ["beta", "latest"]},
        ),
        distribution=Expected(200, headers={"link": ABSENT}, body=ALL_TAGS_BODY),
    ),
    "tags: n=2 after latest": Difference(
        seawall=Expected(
            200,
            headers={"link": '</v2/<repository>/tags/list?last=v2&n=2>;rel="next"'},
            body={"name": "<repository>", "tags": ["v1", "v2"]},
        ),
        distribution=Expected(200, headers={"link": ABSENT}, body=ALL_TAGS_BODY),
    ),
    "tags: n=2 after v2": Difference(
        seawall=Expected(
            200, headers={"link": ABSENT}, body={"name": "<repository>", "tags": ["v3"]}
        ),
        distribution=Expected(200, headers={"link": ABSENT}, body=ALL_TAGS_BODY),
    ),
    "digest: single POST with sha512": Difference(
        seawall=Expected(201),
        distribution=Expected(202),
    ),
    "digest: PUT with sha512": Difference(
        seawall=Expected(201, headers={"docker-content-digest": "<sha512>"}),
        distribution=Expected(201, headers={"docker-content-digest": "<sha256>"}),
    ),
    "digest: HEAD sha512 blob": Difference(
        seawall=Expected(200, headers={"docker-content-digest": "<sha512>"}),
        distribution=Expected(200, headers={"docker-content-digest": "<sha256>"}),
    ),
    "digest: PUT with unknown algorithm": Difference(
        seawall=Expected(400, "UNSUPPORTED"),
        distribution=Expected(400, "DIGEST_INVALID"),
    ),
    "digest: PUT without digest": Difference(
        seawall=Expected(400, "BLOB_UPLOAD_INVALID"),
        distribution=Expected(400, "DIGEST_INVALID"),
    ),
    "upload: GET status through another repository": Difference(
        seawall=Expected(404, "BLOB_UPLOAD_UNKNOWN"),
        distribution=Expected(404, "BLOB_UPLOAD_INVALID"),
    ),
    "upload: PUT through another repository": Difference(
        seawall=Expected(404, "BLOB_UPLOAD_UNKNOWN"),
        distribution=Expected(404, "BLOB_UPLOAD_INVALID"),
    ),
    "tag: 129 characters": Difference(
        seawall=Expected(400, "NAME_INVALID"),
        distribution=Expected(404, NON_JSON),
    ),
    "tag: leading dot": Difference(
        seawall=Expected(400, "NAME_INVALID"),
        distribution=Expected(404, NON_JSON),
    ),
    "name: 258 characters": Difference(
        seawall=Expected(400, "NAME_INVALID"),
        distribution=Expected(500, "UNKNOWN"),
    ),
    "manifest: PUT of 5 MiB": Difference(
        seawall=Expected(413, "MANIFEST_INVALID"),
        distribution=Expected(400, "MANIFEST_INVALID"),
    ),
    "tags: n=0": Difference(
        seawall=Expected(
            200, headers={"link": ABSENT}, body={"name": "<repository>", "tags": []}
        ),
        distribution=Expected(200, body={"name": "<repository>", "tags": ["only"]}),
    ),
    "tags: n=-1": Difference(
        seawall=Expected(400, ANY_ERROR_CODE),
        distribution=Expected(200),
    ),
    "tags: n=abc": Difference(
        seawall=Expected(400, ANY_ERROR_CODE),
        distribution=Expected(200),
    ),
    "catalog: n=-1": Difference(
        seawall=Expected(400, ANY_ERROR_CODE),
        distribution=Expected(200),
    ),
    "catalog: n=abc": Difference(
        seawall=Expected(400, ANY_ERROR_CODE),
        distribution=Expected(200),
    ),
    "method: POST on a manifest": Difference(
        seawall=Expected(405, "UNSUPPORTED"),
        distribution=Expected(405, NON_JSON),
    ),
    "method: PUT on a blob": Difference(
        seawall=Expected(405, "UNSUPPORTED"),
        distribution=Expected(405, NON_JSON),
    ),
}


# --- recording requests ---------------------------------------------------


def normalize_url(value: str, base_url: str) -> str:
    """Reduce a Location or Link URL to a path and sorted query that both registries share.

    Upload ids and Distribution's `_state` parameter are replaced, because each
    registry makes up its own. A URL on another host is kept whole so that
    the comparison fails on it.
    """
    absolute = urljoin(base_url + "/", value)
    parts = urlsplit(absolute)
    if parts.netloc != urlsplit(base_url).netloc:
        return absolute
    path = parts.path
    prefix, marker, upload_id = path.partition("/blobs/uploads/")
    if marker and upload_id:
        path = f"{prefix}{marker}<upload-id>"
    query = [(key, val) for key, val in parse_qsl(parts.query) if key != "_state"]
    if not query:
        return path
    return f"{path}?{urlencode(sorted(query))}"


def normalize_link(value: str, base_url: str) -> str:
    target, _, params = value.partition(";")
    return f"<{normalize_url(target.strip().strip('<>'), base_url)}>;{params.strip()}"


def normalize_header(name: str, value: str, base_url: str) -> str:
    if name == "location":
        return normalize_url(value, base_url)
    if name == "link":
        return normalize_link(value, base_url)
    if name == "content-type":
        return value.split(";")[0].strip().lower()
    return value


def error_code_of(response: httpx.Response) -> str | None:
    if response.status_code < 400 or not response.content:
        return None
    if not response.headers.get("content-type", "").startswith("application/json"):
        return NON_JSON
    errors = response.json().get("errors")
    if not errors:
        return None
    return str(errors[0]["code"])


class Recorder:
    """Send a scenario's requests to one registry and keep an observation per step."""

    def __init__(self, client: httpx.Client, repository: str) -> None:
        self.client = client
        self.repository = repository
        self.base_url = str(client.base_url).rstrip("/")
        self.observations: dict[str, Observation] = {}
        self.locations: dict[str, str] = {}

    @property
    def v2(self) -> str:
        return f"/v2/{self.repository}"

    def request(
        self,
        step: str,
        method: str,
        url: str,
        *,
        keep: tuple[str, ...] = (),
        keep_body: bool = False,
        anonymous: bool = False,
        **kwargs: Any,
    ) -> httpx.Response:
        auth = None if anonymous else httpx.USE_CLIENT_DEFAULT
        request = self.client.build_request(method, url, **kwargs)
        response = self.client.send(request, auth=auth, stream=True)
        try:
            response.read()
            error_code = error_code_of(response)
        except httpx.RemoteProtocolError:
            # Distribution 2.8 announces a Content-Length that its 416
            # responses do not deliver, then closes the connection.
            error_code = TRUNCATED
        finally:
            response.close()

        headers = {
            name: normalize_header(name, response.headers[name], self.base_url)
            for name in keep
            if name in response.headers
        }
        body = None
        if keep_body and response.status_code < 300:
            body = response.json()

        if step in self.observations:
            raise ValueError(f"step {step!r} recorded twice in one scenario")
        self.observations[step] = Observation(
            response.status_code, error_code, headers, body
        )
        if "location" in response.headers:
            self.locations[step] = urljoin(
                self.base_url + "/", response.headers["location"]
            )
        return response

    def location(self, step: str) -> str:
        """Return the absolute Location URL that the response to `step` carried."""
        if step not in self.locations:
            observed = self.observations[step]
            raise AssertionError(
                f"{step}: {self.base_url} returned {observed.status} "
                f"({observed.error_code}) with no Location header"
            )
        return self.locations[step]


Scenario = Callable[[Recorder], None]


def add_query(url: str, **params: str) -> str:
    """Append `params` to the query of `url`, keeping what the registry put there.

    httpx's `params=` argument would replace the query, and Distribution keeps
    its upload state in it.
    """
    separator = "&" if urlsplit(url).query else "?"
    return f"{url}{separator}{urlencode(params)}"


def unique_repository(prefix: str) -> str:
    return f"library/{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass(frozen=True)
class ScenarioRun:
    """The observations of one scenario on each registry, keyed by registry name."""

    repository: str
    observations: Mapping[str, Mapping[str, Observation]]


def run_scenario(
    clients: Mapping[str, httpx.Client], scenario: Scenario
) -> ScenarioRun:
    """Run `scenario` on every registry, in the same repository name, reference first."""
    repository = unique_repository(scenario.__name__.replace("_", "-"))
    observations = {}
    for name, client in clients.items():
        recorder = Recorder(client, repository)
        scenario(recorder)
        observations[name] = recorder.observations
    return ScenarioRun(repository, observations)


def substitute(value: Any, placeholders: Mapping[str, str]) -> Any:
    """Replace every placeholder inside `value`, which may nest lists and dicts."""
    if isinstance(value, str):
        for placeholder, actual in placeholders.items():
            value = value.replace(placeholder, actual)
        return value
    if isinstance(value, list):
        return [substitute(item, placeholders) for item in value]
    if isinstance(value, dict):
        return {key: substitute(item, placeholders) for key, item in value.items()}
    return value


def check_expected(
    registry: str,
    step: str,
    observed: Observation,
    expected: Expected,
    placeholders: Mapping[str, str],
) -> None:
    assert observed.status == expected.status, (
        f"{step}: {registry} returned {observed.status}, documented {expected.status}"
    )
    if expected.error_code != ANY_ERROR_CODE:
        assert observed.error_code == expected.error_code, (
            f"{step}: {registry} returned error code {observed.error_code}, "
            f"documented {expected.error_code}"
        )
    if expected.headers is not None:
        for name, value in substitute(expected.headers, placeholders).items():
            actual = observed.headers.get(name, ABSENT)
            assert actual == value, (
                f"{step}: {registry} header {name} is {actual!r}, documented {value!r}"
            )
    if expected.body is not None:
        body = substitute(expected.body, placeholders)
        assert observed.body == body, (
            f"{step}: {registry} returned body {observed.body!r}, documented {body!r}"
        )


def assert_agree(
    run: ScenarioRun, placeholders: Mapping[str, str] | None = None
) -> None:
    """Assert that both registries agree on every step, except the documented differences."""
    seawall = run.observations[SEAWALL]
    reference = run.observations[DISTRIBUTION]
    placeholders = {"<repository>": run.repository, **(placeholders or {})}
    assert list(seawall) == list(reference), "the scenario ran different steps"
    for step, theirs in reference.items():
        ours = seawall[step]
        if ours.error_code is not None:
            assert ours.error_code in SPEC_ERROR_CODES, (
                f"{step}: Seawall returned error code {ours.error_code}, "
                "which is not one of the codes OCI Distribution allows"
            )
        if step in DIFFERENCES:
            difference = DIFFERENCES[step]
            check_expected(
                DISTRIBUTION, step, theirs, difference.distribution, placeholders
            )
            check_expected(SEAWALL, step, ours, difference.seawall, placeholders)
            continue
        assert ours.status == theirs.status, (
            f"{step}: Seawall returned {ours.status}, Distribution 2.8 returned {theirs.status}"
        )
        assert ours.error_code == theirs.error_code, (
            f"{step}: Seawall returned error code {ours.error_code}, "
            f"Distribution 2.8 returned {theirs.error_code}"
        )
        assert ours.headers == theirs.headers, (
            f"{step}: Seawall headers {dict(ours.headers)}, "
            f"Distribution 2.8 headers {dict(theirs.headers)}"
        )
        assert ours.body == theirs.body, (
            f"{step}: Seawall body {ours.body!r}, Distribution 2.8 body {theirs.body!r}"
        )


# --- fixtures ---------------------------------------------------------------


@pytest.fixture(scope="session")
def reference_registry(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ReferenceRegistry]:
    """Distribution 2.8 on a free loopback port.

    A missing binary fails every comparison instead of skipping it, because
    `make test` installs the package.
    """
    try:
        with start_reference_registry(
            tmp_path_factory.mktemp("reference-registry")
        ) as running:
            yield running
    except ReferenceRegistryMissing as exc:
        pytest.fail(str(exc))


@pytest.fixture
def clients(
    registry: RunningRegistry, reference_registry: ReferenceRegistry
) -> Iterator[dict[str, httpx.Client]]:
    """HTTP clients for both registries, the reference first."""
    with (
        httpx.Client(base_url=reference_registry.url, timeout=60) as reference,
        httpx.Client(
            base_url=registry.url, auth=("admin", ADMIN_PASSWORD), timeout=60
        ) as seawall,
    ):
        yield {DISTRIBUTION: reference, SEAWALL: seawall}


@pytest.fixture(scope="session")
def clean_image(testdata: Path) -> tuple[bytes, bytes, bytes]:
    """The `clean:1.0` manifest, config and single layer, byte for byte."""
    layout = testdata / "images" / "clean"
    manifest_bytes = read_blob(layout, tagged_manifest(layout, "1.0").digest)
    manifest = json.loads(manifest_bytes)
    config = read_blob(layout, manifest["config"]["digest"])
    layer = read_blob(layout, manifest["layers"][0]["digest"])
    return manifest_bytes, config, layer


# --- helpers used inside scenarios ------------------------------------------


def push_blob(recorder: Recorder, data: bytes) -> str:
    """Upload `data` with POST and PUT, without recording the steps."""
    digest = sha256_digest(data)
    started = recorder.client.post(f"{recorder.v2}/blobs/uploads/")
    assert started.status_code == 202, (
        f"upload start returned {started.status_code}: {started.text}"
    )
    location = urljoin(recorder.base_url + "/", started.headers["location"])
    finished = recorder.client.put(
        add_query(location, digest=digest),
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert finished.status_code == 201, (
        f"upload PUT returned {finished.status_code}: {finished.text}"
    )
    return digest


def push_manifest(
    recorder: Recorder, reference: str, manifest: bytes, media_type: str
) -> None:
    response = recorder.client.put(
        f"{recorder.v2}/manifests/{reference}",
        content=manifest,
        headers={"Content-Type": media_type},
    )
    assert response.status_code == 201, (
        f"manifest PUT returned {response.status_code}: {response.text}"
    )


def artifact_manifest(
    subject: bytes | None, layer_digest: str, layer_size: int
) -> bytes:
    """Build an OCI 1.1 artifact manifest with the empty config, optionally with a subject."""
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.sbom+json",
        "config": {
            "mediaType": OCI_EMPTY,
            "digest": sha256_digest(EMPTY_CONFIG),
            "size": len(EMPTY_CONFIG),
        },
        "layers": [
            {
                "mediaType": "application/vnd.example.sbom+json",
                "digest": layer_digest,
                "size": layer_size,
            }
        ],
    }
    if subject is not None:
        document["subject"] = {
            "mediaType": OCI_MANIFEST,
            "digest": sha256_digest(subject),
            "size": len(subject),
        }
    return json.dumps(document, separators=(",", ":")).encode()


# --- tests ------------------------------------------------------------------


def test_base_endpoint(clients: dict[str, httpx.Client]) -> None:
    def base_endpoint(recorder: Recorder) -> None:
        recorder.request(
            "base: GET /v2/", "GET", "/v2/", keep=("docker-distribution-api-version",)
        )
        recorder.request("base: GET /v2/ anonymously", "GET", "/v2/", anonymous=True)

    assert_agree(run_scenario(clients, base_endpoint))


def test_anonymous_base_challenge(registry: RunningRegistry) -> None:
    response = httpx.get(f"{registry.url}/v2/", timeout=30)

    assert response.status_code == 401
    assert (
        response.headers.get("www-authenticate", "")
        .lower()
        .startswith(("basic", "bearer"))
    )
    assert response.headers.get("docker-distribution-api-version") == "registry/2.0"


def test_monolithic_upload(clients: dict[str, httpx.Client]) -> None:
    data = b"monolithic upload body\n"

    def monolithic_upload(recorder: Recorder) -> None:
        recorder.request(
            "upload: POST start",
            "POST",
            f"{recorder.v2}/blobs/uploads/",
            keep=("location",),
        )
        recorder.request(
            "upload: PUT with body",
            "PUT",
            add_query(
                recorder.location("upload: POST start"), digest=sha256_digest(data)
            ),
            content=data,
            headers={"Content-Type": "application/octet-stream"},
            keep=("location", "docker-content-digest"),
        )
        blob_url = f"{recorder.v2}/blobs/{sha256_digest(data)}"
        blob_headers = ("content-length", "docker-content-digest")
        recorder.request("blob: HEAD", "HEAD", blob_url, keep=blob_headers)
        response = recorder.request("blob: GET", "GET", blob_url, keep=blob_headers)
        assert response.content == data, (
            f"{recorder.base_url} returned other blob bytes"
        )

    assert_agree(run_scenario(clients, monolithic_upload))


def test_single_post_upload(clients: dict[str, httpx.Client]) -> None:
    data = b"single POST upload body\n"
    digest = sha256_digest(data)

    def single_post_upload(recorder: Recorder) -> None:
        recorder.request(
            "upload: single POST with digest",
            "POST",
            f"{recorder.v2}/blobs/uploads/",
            params={"digest": digest},
            content=data,
            headers={"Content-Type": "application/octet-stream"},
            keep=("docker-content-digest",),
        )
        recorder.request(
            "blob: HEAD after single POST", "HEAD", f"{recorder.v2}/blobs/{digest}"
        )

    assert_agree(run_scenario(clients, single_post_upload), {"<digest>": digest})


def test_chunked_upload(clients: dict[str, httpx.Client]) -> None:
    chunks = [b"first chunk|", b"second chunk, streamed|", b"last chunk in PUT"]
    data = b"".join(chunks)
    first_end = len(chunks[0]) - 1

    def chunked_upload(recorder: Recorder) -> None:
        recorder.request(
            "upload: POST start",
            "POST",
            f"{recorder.v2}/blobs/uploads/",
            keep=("location",),
        )
        recorder.request(
            "upload: PATCH with Content-Range",
            "PATCH",
            recorder.location("upload: POST start"),
            content=chunks[0],
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"0-{first_end}",
            },
            keep=("location", "range"),
        )
        recorder.request(
            "upload: GET status",
            "GET",
            recorder.location("upload: PATCH with Content-Range"),
            keep=("location", "range"),
        )
        recorder.request(
            "upload: PATCH streamed",
            "PATCH",
            recorder.location("upload: GET status"),
            content=chunks[1],
            headers={"Content-Type": "application/octet-stream"},
            keep=("location", "range"),
        )
        recorder.request(
            "upload: PUT with last chunk",
            "PUT",
            add_query(
                recorder.location("upload: PATCH streamed"), digest=sha256_digest(data)
            ),
            content=chunks[2],
            headers={"Content-Type": "application/octet-stream"},
            keep=("location", "docker-content-digest"),
        )
        response = recorder.request(
            "blob: GET chunked result",
            "GET",
            f"{recorder.v2}/blobs/{sha256_digest(data)}",
            keep=("content-length", "docker-content-digest"),
        )
        assert response.content == data, (
            f"{recorder.base_url} joined the chunks wrongly"
        )

    assert_agree(run_scenario(clients, chunked_upload))


def test_chunk_out_of_order(clients: dict[str, httpx.Client]) -> None:
    def chunk_out_of_order(recorder: Recorder) -> None:
        recorder.request(
            "upload: POST start",
            "POST",
            f"{recorder.v2}/blobs/uploads/",
            keep=("location",),
        )
        recorder.request(
            "upload: PATCH first chunk",
            "PATCH",
            recorder.location("upload: POST start"),
            content=b"abc",
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": "0-2",
            },
            keep=("location", "range"),
        )
        in_order = recorder.location("upload: PATCH first chunk")
        recorder.request(
            "upload: PATCH chunk that skips bytes",
            "PATCH",
            in_order,
            content=b"xyz",
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": "5-7",
            },
        )
        # Distribution moves its upload state into each new Location, so the
        # status request follows the latest Location that either registry sent.
        status_url = recorder.locations.get(
            "upload: PATCH chunk that skips bytes", in_order
        )
        recorder.request(
            "upload: GET status after skipped chunk",
            "GET",
            status_url,
            keep=("location", "range"),
        )

    assert_agree(run_scenario(clients, chunk_out_of_order))


def test_upload_digest_mismatch(clients: dict[str, httpx.Client]) -> None:
    def upload_digest_mismatch(recorder: Recorder) -> None:
        recorder.request(
            "upload: POST start",
            "POST",
            f"{recorder.v2}/blobs/uploads/",
            keep=("location",),
        )
        recorder.request(
            "upload: PUT with wrong digest",
            "PUT",
            add_query(
                recorder.location("upload: POST start"),
                digest=sha256_digest(b"other content"),
            ),
            content=b"actual content",
            headers={"Content-Type": "application/octet-stream"},
        )
        recorder.request(
            "blob: HEAD claimed digest",
            "HEAD",
            f"{recorder.v2}/blobs/{sha256_digest(b'other content')}",
        )
        recorder.request(
            "upload: POST second start",
            "POST",
            f"{recorder.v2}/blobs/uploads/",
            keep=("location",),
        )
        recorder.request(
            "upload: PUT with malformed digest",
            "PUT",
            add_query(
                recorder.location("upload: POST second start"), digest="sha256:not-hex"
            ),
            content=b"actual content",
            headers={"Content-Type": "application/octet-stream"},
        )

    assert_agree(run_scenario(clients, upload_digest_mismatch))


def test_unknown_upload(clients: dict[str, httpx.Client]) -> None:
    def unknown_upload(recorder: Recorder) -> None:
        url = f"{recorder.v2}/blobs/uploads/{uuid.uuid4()}"
        recorder.request("upload: GET unknown", "GET", url)
        recorder.request(
            "upload: PATCH unknown",
            "PATCH",
            url,
            content=b"abc",
            headers={"Content-Type": "application/octet-stream"},
        )
        recorder.request(
            "upload: PUT unknown",
            "PUT",
            url,
            params={"digest": sha256_digest(b"abc")},
            content=b"abc",
            headers={"Content-Type": "application/octet-stream"},
        )
        recorder.request("upload: DELETE unknown", "DELETE", url)

    assert_agree(run_scenario(clients, unknown_upload))


def test_cancel_upload(clients: dict[str, httpx.Client]) -> None:
    def cancel_upload(recorder: Recorder) -> None:
        recorder.request(
            "upload: POST start",
            "POST",
            f"{recorder.v2}/blobs/uploads/",
            keep=("location",),
        )
        location = recorder.location("upload: POST start")
        recorder.request("upload: DELETE", "DELETE", location)
        recorder.request("upload: GET status after DELETE", "GET", location)

    assert_agree(run_scenario(clients, cancel_upload))


def test_blob_range_requests(clients: dict[str, httpx.Client]) -> None:
    data = b"0123456789"
    range_headers = ("content-length", "content-range")

    def blob_range_requests(recorder: Recorder) -> None:
        url = f"{recorder.v2}/blobs/{push_blob(recorder, data)}"
        response = recorder.request(
            "blob: GET bytes=2-5",
            "GET",
            url,
            headers={"Range": "bytes=2-5"},
            keep=range_headers,
        )
        assert response.content == data[2:6], (
            f"{recorder.base_url} returned the wrong range"
        )
        response = recorder.request(
            "blob: GET bytes=8-",
            "GET",
            url,
            headers={"Range": "bytes=8-"},
            keep=range_headers,
        )
        assert response.content == data[8:], (
            f"{recorder.base_url} returned the wrong open range"
        )
        recorder.request(
            "blob: GET range past the end",
            "GET",
            url,
            headers={"Range": "bytes=20-30"},
            keep=("content-range",),
        )

    assert_agree(run_scenario(clients, blob_range_requests))


def test_unknown_blob(clients: dict[str, httpx.Client]) -> None:
    def unknown_blob(recorder: Recorder) -> None:
        push_blob(recorder, b"makes the repository exist")
        url = f"{recorder.v2}/blobs/{UNKNOWN_DIGEST}"
        recorder.request("blob: HEAD unknown", "HEAD", url)
        recorder.request("blob: GET unknown", "GET", url)
        recorder.request(
            "blob: GET malformed digest", "GET", f"{recorder.v2}/blobs/sha256:zz"
        )

    assert_agree(run_scenario(clients, unknown_blob))


def test_delete_blob(clients: dict[str, httpx.Client]) -> None:
    def delete_blob(recorder: Recorder) -> None:
        url = f"{recorder.v2}/blobs/{push_blob(recorder, b'blob to delete')}"
        recorder.request("blob: DELETE", "DELETE", url)
        recorder.request("blob: HEAD after DELETE", "HEAD", url)

    assert_agree(run_scenario(clients, delete_blob))


def test_cross_repository_mount(clients: dict[str, httpx.Client]) -> None:
    data = b"blob shared between repositories"
    digest = sha256_digest(data)

    def cross_repository_mount(recorder: Recorder) -> None:
        source = f"{recorder.repository}-source"
        push_blob(Recorder(recorder.client, source), data)
        recorder.request(
            "mount: POST from repository with the blob",
            "POST",
            f"{recorder.v2}/blobs/uploads/",
            params={"mount": digest, "from": source},
            keep=("location", "docker-content-digest"),
        )
        recorder.request(
            "mount: HEAD mounted blob",
            "HEAD",
            f"{recorder.v2}/blobs/{digest}",
            keep=("content-length", "docker-content-digest"),
        )
        recorder.request(
            "mount: POST for unknown blob",
            "POST",
            f"{recorder.v2}/blobs/uploads/",
            params={"mount": UNKNOWN_DIGEST, "from": source},
            keep=("location",),
        )

    assert_agree(run_scenario(clients, cross_repository_mount))


def test_manifest_put_and_get(
    clients: dict[str, httpx.Client], clean_image: tuple[bytes, bytes, bytes]
) -> None:
    manifest, config, layer = clean_image
    digest = sha256_digest(manifest)
    read_headers = ("content-type", "content-length", "docker-content-digest")

    def manifest_put_and_get(recorder: Recorder) -> None:
        push_blob(recorder, config)
        push_blob(recorder, layer)
        recorder.request(
            "manifest: PUT by tag",
            "PUT",
            f"{recorder.v2}/manifests/1.0",
            content=manifest,
            headers={"Content-Type": OCI_MANIFEST},
            keep=("location", "docker-content-digest"),
        )
        for reference in ("1.0", digest):
            kind = "tag" if reference == "1.0" else "digest"
            url = f"{recorder.v2}/manifests/{reference}"
            recorder.request(
                f"manifest: HEAD by {kind}",
                "HEAD",
                url,
                headers=ACCEPT_OCI,
                keep=read_headers,
            )
            response = recorder.request(
                f"manifest: GET by {kind}",
                "GET",
                url,
                headers=ACCEPT_OCI,
                keep=read_headers,
            )
            assert response.content == manifest, (
                f"{recorder.base_url} changed the manifest bytes"
            )
            recorder.request(
                f"manifest: GET by {kind} without Accept", "GET", url, keep=read_headers
            )
        recorder.request(
            "manifest: PUT by digest",
            "PUT",
            f"{recorder.v2}/manifests/{digest}",
            content=manifest,
            headers={"Content-Type": OCI_MANIFEST},
            keep=("location", "docker-content-digest"),
        )
        recorder.request(
            "tags: list", "GET", f"{recorder.v2}/tags/list", keep_body=True
        )

    assert_agree(run_scenario(clients, manifest_put_and_get), {"<digest>": digest})


def test_manifest_errors(
    clients: dict[str, httpx.Client], clean_image: tuple[bytes, bytes, bytes]
) -> None:
    manifest, config, layer = clean_image

    def manifest_errors(recorder: Recorder) -> None:
        push_blob(recorder, config)
        recorder.request(
            "manifest: PUT with a missing layer",
            "PUT",
            f"{recorder.v2}/manifests/missing-layer",
            content=manifest,
            headers={"Content-Type": OCI_MANIFEST},
        )
        push_blob(recorder, layer)
        recorder.request(
            "manifest: PUT to a digest of other content",
            "PUT",
            f"{recorder.v2}/manifests/{UNKNOWN_DIGEST}",
            content=manifest,
            headers={"Content-Type": OCI_MANIFEST},
        )
        recorder.request(
            "manifest: PUT invalid JSON",
            "PUT",
            f"{recorder.v2}/manifests/broken",
            content=b'{"schemaVersion": 2, "mediaType": ',
            headers={"Content-Type": OCI_MANIFEST},
        )
        recorder.request(
            "manifest: GET unknown tag", "GET", f"{recorder.v2}/manifests/no-such-tag"
        )
        recorder.request(
            "manifest: GET unknown digest",
            "GET",
            f"{recorder.v2}/manifests/{UNKNOWN_DIGEST}",
        )
        recorder.request(
            "manifest: HEAD unknown tag", "HEAD", f"{recorder.v2}/manifests/no-such-tag"
        )

    assert_agree(run_scenario(clients, manifest_errors))


def test_manifest_delete(
    clients: dict[str, httpx.Client], clean_image: tuple[bytes, bytes, bytes]
) -> None:
    manifest, config, layer = clean_image
    digest = sha256_digest(manifest)

    def manifest_delete(recorder: Recorder) -> None:
        push_blob(recorder, config)
        push_blob(recorder, layer)
        push_manifest(recorder, "kept", manifest, OCI_MANIFEST)
        push_manifest(recorder, "removed", manifest, OCI_MANIFEST)
        recorder.request(
            "manifest: DELETE by tag", "DELETE", f"{recorder.v2}/manifests/removed"
        )
        recorder.request(
            "manifest: GET by tag after tag delete",
            "GET",
            f"{recorder.v2}/manifests/removed",
            headers=ACCEPT_OCI,
        )
        recorder.request(
            "manifest: GET by digest after tag delete",
            "GET",
            f"{recorder.v2}/manifests/{digest}",
            headers=ACCEPT_OCI,
        )
        recorder.request(
            "manifest: DELETE by digest", "DELETE", f"{recorder.v2}/manifests/{digest}"
        )
        recorder.request(
            "manifest: GET by digest after delete",
            "GET",
            f"{recorder.v2}/manifests/{digest}",
            headers=ACCEPT_OCI,
        )
        recorder.request(
            "manifest: GET other tag after digest delete",
            "GET",
            f"{recorder.v2}/manifests/kept",
            headers=ACCEPT_OCI,
        )
        recorder.request(
            "manifest: DELETE unknown digest",
            "DELETE",
            f"{recorder.v2}/manifests/{UNKNOWN_DIGEST}",
        )

    assert_agree(run_scenario(clients, manifest_delete))


def test_tags_pagination(
    clients: dict[str, httpx.Client], clean_image: tuple[bytes, bytes, bytes]
) -> None:
    manifest, config, layer = clean_image
    tags = ["v3", "v1", "latest", "v2", "beta"]

    def tags_pagination(recorder: Recorder) -> None:
        push_blob(recorder, config)
        push_blob(recorder, layer)
        for tag in tags:
            push_manifest(recorder, tag, manifest, OCI_MANIFEST)
        url = f"{recorder.v2}/tags/list"
        recorder.request("tags: full list", "GET", url, keep_body=True)
        recorder.request(
            "tags: n=2", "GET", url, params={"n": "2"}, keep=("link",), keep_body=True
        )
        recorder.request(
            "tags: n=2 after latest",
            "GET",
            url,
            params={"n": "2", "last": "latest"},
            keep=("link",),
            keep_body=True,
        )
        recorder.request(
            "tags: n=2 after v2",
            "GET",
            url,
            params={"n": "2", "last": "v2"},
            keep=("link",),
            keep_body=True,
        )
        recorder.request(
            "tags: unknown repository", "GET", f"{recorder.v2}-missing/tags/list"
        )

    assert_agree(run_scenario(clients, tags_pagination))


def test_catalog_pagination(clients: dict[str, httpx.Client]) -> None:
    def catalog_pagination(recorder: Recorder) -> None:
        # Other tests share both registries, so the pages start just before
        # this scenario's own repositories, whose names sort together.
        base = recorder.repository
        for suffix in ("a", "b", "c"):
            push_blob(
                Recorder(recorder.client, f"{base}-{suffix}"),
                f"catalog {suffix}".encode(),
            )
        first = recorder.request(
            "catalog: n=2 from the scenario prefix",
            "GET",
            "/v2/_catalog",
            params={"n": "2", "last": f"{base}-"},
            keep=("link",),
            keep_body=True,
        )
        assert first.json()["repositories"] == [f"{base}-a", f"{base}-b"]
        second = recorder.client.get(
            "/v2/_catalog", params={"n": "2", "last": f"{base}-b"}
        )
        assert second.status_code == 200
        assert second.json()["repositories"][0] == f"{base}-c"

    assert_agree(run_scenario(clients, catalog_pagination))


def test_invalid_names(clients: dict[str, httpx.Client]) -> None:
    def invalid_names(recorder: Recorder) -> None:
        recorder.request(
            "name: uppercase repository", "GET", "/v2/library/UpperCase/tags/list"
        )
        recorder.request(
            "name: double dot component", "GET", "/v2/library/a..b/tags/list"
        )

    assert_agree(run_scenario(clients, invalid_names))


def test_referrers(
    clients: dict[str, httpx.Client], clean_image: tuple[bytes, bytes, bytes]
) -> None:
    manifest, config, layer = clean_image
    subject_digest = sha256_digest(manifest)
    sbom = b'{"bomFormat": "CycloneDX", "components": []}'

    def referrers(recorder: Recorder) -> None:
        push_blob(recorder, config)
        push_blob(recorder, layer)
        push_manifest(recorder, "1.0", manifest, OCI_MANIFEST)
        push_blob(recorder, EMPTY_CONFIG)
        sbom_digest = push_blob(recorder, sbom)
        referrer = artifact_manifest(manifest, sbom_digest, len(sbom))
        recorder.request(
            "manifest: PUT with subject",
            "PUT",
            f"{recorder.v2}/manifests/{sha256_digest(referrer)}",
            content=referrer,
            headers={"Content-Type": OCI_MANIFEST},
            keep=("docker-content-digest", "oci-subject"),
        )
        url = f"{recorder.v2}/referrers/{subject_digest}"
        recorder.request("referrers: GET", "GET", url, keep=("content-type",))
        recorder.request(
            "referrers: GET filtered by artifactType",
            "GET",
            url,
            params={"artifactType": "application/vnd.example.sbom+json"},
            keep=("content-type",),
        )

    assert_agree(run_scenario(clients, referrers), {"<subject>": subject_digest})


def test_blob_repository_isolation(
    clients: dict[str, httpx.Client], clean_image: tuple[bytes, bytes, bytes]
) -> None:
    manifest, config, layer = clean_image
    foreign = b"blob pushed only to the neighbour repository"
    digest = sha256_digest(foreign)

    def blob_repository_isolation(recorder: Recorder) -> None:
        neighbour = Recorder(recorder.client, f"{recorder.repository}-neighbour")
        push_blob(neighbour, foreign)
        push_blob(neighbour, layer)
        push_blob(recorder, config)
        url = f"{recorder.v2}/blobs/{digest}"
        recorder.request("isolation: HEAD blob of another repository", "HEAD", url)
        recorder.request("isolation: GET blob of another repository", "GET", url)
        recorder.request(
            "isolation: mount from a repository without the blob",
            "POST",
            f"{recorder.v2}/blobs/uploads/",
            params={"mount": digest, "from": f"{recorder.repository}-empty"},
            keep=("location",),
        )
        recorder.request(
            "isolation: manifest naming a layer of another repository",
            "PUT",
            f"{recorder.v2}/manifests/borrowed",
            content=manifest,
            headers={"Content-Type": OCI_MANIFEST},
        )

    assert_agree(run_scenario(clients, blob_repository_isolation))


def test_upload_bound_to_repository(clients: dict[str, httpx.Client]) -> None:
    data = b"upload started in one repository"

    def upload_bound_to_repository(recorder: Recorder) -> None:
        recorder.request(
            "upload: POST start",
            "POST",
            f"{recorder.v2}/blobs/uploads/",
            keep=("location",),
        )
        location = recorder.location("upload: POST start")
        other = location.replace(
            f"/v2/{recorder.repository}/", f"/v2/{recorder.repository}-other/"
        )
        recorder.request("upload: GET status through another repository", "GET", other)
        recorder.request(
            "upload: PUT through another repository",
            "PUT",
            add_query(other, digest=sha256_digest(data)),
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        recorder.request(
            "upload: HEAD blob in the other repository",
            "HEAD",
            f"{recorder.v2}-other/blobs/{sha256_digest(data)}",
        )

    assert_agree(run_scenario(clients, upload_bound_to_repository))


def test_digest_algorithms(clients: dict[str, httpx.Client]) -> None:
    data = b"blob addressed by sha512"
    sha512 = "sha512:" + hashlib.sha512(data).hexdigest()

    def digest_algorithms(recorder: Recorder) -> None:
        recorder.request(
            "digest: single POST with sha512",
            "POST",
            f"{recorder.v2}/blobs/uploads/",
            params={"digest": sha512},
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        recorder.request(
            "upload: POST start",
            "POST",
            f"{recorder.v2}/blobs/uploads/",
            keep=("location",),
        )
        recorder.request(
            "digest: PUT with sha512",
            "PUT",
            add_query(recorder.location("upload: POST start"), digest=sha512),
            content=data,
            headers={"Content-Type": "application/octet-stream"},
            keep=("docker-content-digest",),
        )
        recorder.request(
            "digest: HEAD sha512 blob",
            "HEAD",
            f"{recorder.v2}/blobs/{sha512}",
            keep=("content-length", "docker-content-digest"),
        )
        recorder.request(
            "upload: POST second start",
            "POST",
            f"{recorder.v2}/blobs/uploads/",
            keep=("location",),
        )
        recorder.request(
            "digest: PUT with unknown algorithm",
            "PUT",
            add_query(
                recorder.location("upload: POST second start"), digest="md5:" + "a" * 32
            ),
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        recorder.request(
            "upload: POST third start",
            "POST",
            f"{recorder.v2}/blobs/uploads/",
            keep=("location",),
        )
        recorder.request(
            "digest: PUT without digest",
            "PUT",
            recorder.location("upload: POST third start"),
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )

    placeholders = {"<sha512>": sha512, "<sha256>": sha256_digest(data)}
    assert_agree(run_scenario(clients, digest_algorithms), placeholders)


def test_invalid_tags(
    clients: dict[str, httpx.Client], clean_image: tuple[bytes, bytes, bytes]
) -> None:
    manifest, config, layer = clean_image

    def invalid_tags(recorder: Recorder) -> None:
        push_blob(recorder, config)
        push_blob(recorder, layer)
        for step, tag in (
            ("tag: 129 characters", "a" * 129),
            ("tag: leading dot", ".hidden"),
            ("tag: 128 characters", "b" * 128),
        ):
            recorder.request(
                step,
                "PUT",
                f"{recorder.v2}/manifests/{tag}",
                content=manifest,
                headers={"Content-Type": OCI_MANIFEST},
            )
        long_name = "library/" + "n" * 250
        recorder.request("name: 258 characters", "GET", f"/v2/{long_name}/tags/list")

    assert_agree(run_scenario(clients, invalid_tags))


def test_pagination_parameters(
    clients: dict[str, httpx.Client], clean_image: tuple[bytes, bytes, bytes]
) -> None:
    manifest, config, layer = clean_image

    def pagination_parameters(recorder: Recorder) -> None:
        push_blob(recorder, config)
        push_blob(recorder, layer)
        push_manifest(recorder, "only", manifest, OCI_MANIFEST)
        url = f"{recorder.v2}/tags/list"
        recorder.request(
            "tags: n=0", "GET", url, params={"n": "0"}, keep=("link",), keep_body=True
        )
        recorder.request("tags: n=-1", "GET", url, params={"n": "-1"})
        recorder.request("tags: n=abc", "GET", url, params={"n": "abc"})
        recorder.request("catalog: n=abc", "GET", "/v2/_catalog", params={"n": "abc"})
        recorder.request("catalog: n=-1", "GET", "/v2/_catalog", params={"n": "-1"})

    assert_agree(run_scenario(clients, pagination_parameters))


def test_index_manifests(
    clients: dict[str, httpx.Client], clean_image: tuple[bytes, bytes, bytes]
) -> None:
    manifest, config, layer = clean_image
    child = {
        "mediaType": OCI_MANIFEST,
        "digest": sha256_digest(manifest),
        "size": len(manifest),
    }
    index = json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [child]},
        separators=(",", ":"),
    ).encode()

    def index_manifests(recorder: Recorder) -> None:
        recorder.request(
            "index: PUT with a missing child",
            "PUT",
            f"{recorder.v2}/manifests/index",
            content=index,
            headers={"Content-Type": OCI_INDEX},
        )
        push_blob(recorder, config)
        push_blob(recorder, layer)
        push_manifest(recorder, sha256_digest(manifest), manifest, OCI_MANIFEST)
        recorder.request(
            "index: PUT after the child",
            "PUT",
            f"{recorder.v2}/manifests/index",
            content=index,
            headers={"Content-Type": OCI_INDEX},
            keep=("location", "docker-content-digest"),
        )
        recorder.request(
            "index: GET",
            "GET",
            f"{recorder.v2}/manifests/index",
            headers=ACCEPT_OCI,
            keep=("content-type", "content-length", "docker-content-digest"),
        )
        recorder.request(
            "manifest: PUT with mismatched Content-Type",
            "PUT",
            f"{recorder.v2}/manifests/mismatched",
            content=manifest,
            headers={"Content-Type": OCI_INDEX},
        )

    assert_agree(run_scenario(clients, index_manifests))


def test_unsupported_requests(clients: dict[str, httpx.Client]) -> None:
    def unsupported_requests(recorder: Recorder) -> None:
        push_blob(recorder, b"makes the repository exist")
        recorder.request(
            "method: POST on a manifest", "POST", f"{recorder.v2}/manifests/x"
        )
        recorder.request(
            "method: PUT on a blob", "PUT", f"{recorder.v2}/blobs/{UNKNOWN_DIGEST}"
        )
        recorder.request(
            "upload: POST start",
            "POST",
            f"{recorder.v2}/blobs/uploads/",
            keep=("location",),
        )
        recorder.request(
            "upload: PATCH with malformed Content-Range",
            "PATCH",
            recorder.location("upload: POST start"),
            content=b"abc",
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": "bytes=0-2",
            },
        )

    assert_agree(run_scenario(clients, unsupported_requests))


def test_large_manifest(
    clients: dict[str, httpx.Client], clean_image: tuple[bytes, bytes, bytes]
) -> None:
    manifest, config, layer = clean_image
    document = json.loads(manifest)
    document["annotations"] = {"org.example.padding": "x" * (5 * 1024 * 1024)}
    large = json.dumps(document, separators=(",", ":")).encode()

    def large_manifest(recorder: Recorder) -> None:
        push_blob(recorder, config)
        push_blob(recorder, layer)
        recorder.request(
            "manifest: PUT of 5 MiB",
            "PUT",
            f"{recorder.v2}/manifests/large",
            content=large,
            headers={"Content-Type": OCI_MANIFEST},
        )

    assert_agree(run_scenario(clients, large_manifest))
