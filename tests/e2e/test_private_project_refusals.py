"""Refusals read the same for a private project as for a missing one.

Both the registry protocol on `/v2/` and the project routes of the
`/api/v2.0` API are checked, for callers who may not see the project.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.e2e.protocol_helpers import describe, unique_name
from tests.support.seed import create_project, create_user
from tests.support.server import (
    ADMIN_PASSWORD,
    RunningRegistry,
)

SERVICE = "harbor-registry"
DIGEST = "sha256:" + "ab" * 32
# Headers that differ between any two responses.
VOLATILE_HEADERS = {"date", "x-request-id"}


@pytest.fixture(scope="module")
def outsider(registry: RunningRegistry) -> tuple[str, str]:
    username = unique_name("outsider")
    create_user(registry, username, "Outsider-Pass1")
    return username, "Outsider-Pass1"


@pytest.fixture(scope="module")
def foreign_robot(registry: RunningRegistry) -> tuple[str, str]:
    """Return the credentials of a robot with push and pull in another project."""
    own = unique_name("robots")
    create_project(registry, own, public=False)
    permissions = [
        {
            "kind": "project",
            "namespace": own,
            "access": [
                {"resource": "repository", "action": action, "effect": "allow"}
                for action in ("pull", "push")
            ],
        }
    ]
    response = httpx.post(
        f"{registry.url}/api/v2.0/robots",
        json={"name": "ci", "level": "project", "permissions": permissions},
        auth=("admin", ADMIN_PASSWORD),
        timeout=30,
    )
    assert response.status_code == 201, describe(response)
    body = response.json()
    return str(body["name"]), str(body["secret"])


def _token(
    registry: RunningRegistry, repository: str, auth: tuple[str, str] | None
) -> dict[str, str]:
    response = httpx.get(
        f"{registry.url}/service/token",
        params={
            "service": SERVICE,
            "scope": f"repository:{repository}:pull,push,delete",
        },
        auth=auth,
        timeout=30,
    )
    assert response.status_code == 200, describe(response)
    return {"Authorization": f"Bearer {response.json()['token']}"}


def _basic(auth: tuple[str, str]) -> httpx.BasicAuth:
    return httpx.BasicAuth(*auth)


def _routes() -> list[tuple[str, str, bytes | None]]:
    upload = uuid.uuid4().hex
    return [
        ("GET", "manifests/latest", None),
        ("HEAD", "manifests/latest", None),
        ("PUT", "manifests/latest", b"{}"),
        ("DELETE", f"manifests/{DIGEST}", None),
        ("GET", f"blobs/{DIGEST}", None),
        ("HEAD", f"blobs/{DIGEST}", None),
        ("DELETE", f"blobs/{DIGEST}", None),
        ("POST", "blobs/uploads/", b""),
        ("POST", f"blobs/uploads/?digest={DIGEST}", b"x"),
        ("GET", f"blobs/uploads/{upload}", None),
        ("PATCH", f"blobs/uploads/{upload}", b"x"),
        ("PUT", f"blobs/uploads/{upload}?digest={DIGEST}", b""),
        ("DELETE", f"blobs/uploads/{upload}", None),
        ("GET", "tags/list", None),
        ("GET", f"referrers/{DIGEST}", None),
    ]


def _send(
    registry: RunningRegistry,
    method: str,
    repository: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str],
    auth: tuple[str, str] | None,
) -> httpx.Response:
    return httpx.request(
        method,
        f"{registry.url}/v2/{repository}/{path}",
        content=body,
        headers={"Content-Type": "application/octet-stream", **headers},
        auth=_basic(auth) if auth else None,
        timeout=30,
    )


def _shape(response: httpx.Response, project: str) -> tuple[object, ...]:
    headers = sorted(
        (key, value.replace(project, "<project>"))
        for key, value in response.headers.items()
        if key not in VOLATILE_HEADERS
    )
    return (
        response.status_code,
        response.text.replace(project, "<project>"),
        headers,
    )


@pytest.mark.parametrize(
    "caller",
    [
        "anonymous",
        "anonymous-token",
        "outsider-basic",
        "outsider-token",
        "robot-basic",
        "robot-token",
    ],
)
def test_refusal_hides_private_project(
    registry: RunningRegistry,
    outsider: tuple[str, str],
    foreign_robot: tuple[str, str],
    caller: str,
) -> None:
    private = unique_name("hidden")
    create_project(registry, private, public=False)
    missing = unique_name("absent")
    credentials = {
        "anonymous": None,
        "outsider": outsider,
        "robot": foreign_robot,
    }[caller.split("-")[0]]
    with_token = caller.endswith("token")

    for method, path, body in _routes():
        shapes = []
        for project in (private, missing):
            repository = f"{project}/app"
            headers: dict[str, str] = {}
            auth = credentials
            if with_token:
                headers = _token(registry, repository, credentials)
                auth = None
            response = _send(registry, method, repository, path, body, headers, auth)
            shapes.append(_shape(response, project))
        assert shapes[0] == shapes[1], f"{method} {path}"


API = "/api/v2.0"
# Far above any project id the suite creates.
MISSING_PROJECT_ID = 2**31 - 2


def _api_routes() -> list[tuple[str, str, dict[str, object] | None]]:
    return [
        ("GET", "", None),
        ("PUT", "", {"metadata": {"public": "true"}}),
        ("DELETE", "", None),
        ("GET", "/summary", None),
        ("GET", "/members", None),
        ("POST", "/members", {"role_id": 1, "member_user": {"username": "admin"}}),
        ("GET", "/metadatas/", None),
        ("GET", "/scanner", None),
    ]


def _api_shape(response: httpx.Response, project: str) -> tuple[object, ...]:
    """Return status, body and headers, with the project as the request named it masked."""
    named = f"in project {project}"
    # An id and a name differ in length, and so do the body lengths. The
    # bodies themselves are compared.
    headers = sorted(
        (key, value)
        for key, value in response.headers.items()
        if key not in VOLATILE_HEADERS | {"content-length"}
    )
    return (
        response.status_code,
        response.text.replace(named, "in project <project>"),
        headers,
    )


def _project_id(registry: RunningRegistry, name: str) -> int:
    response = httpx.get(
        f"{registry.url}{API}/projects/{name}",
        auth=("admin", ADMIN_PASSWORD),
        timeout=30,
    )
    assert response.status_code == 200, describe(response)
    return int(response.json()["project_id"])


@pytest.mark.parametrize("reference", ["name", "id"])
@pytest.mark.parametrize("caller", ["anonymous", "outsider", "robot"])
def test_api_refusal_hides_private_project(
    registry: RunningRegistry,
    outsider: tuple[str, str],
    foreign_robot: tuple[str, str],
    caller: str,
    reference: str,
) -> None:
    private = unique_name("hidden")
    create_project(registry, private, public=False)
    if reference == "name":
        references = (private, unique_name("absent"))
    else:
        references = (str(_project_id(registry, private)), str(MISSING_PROJECT_ID))
    credentials = {
        "anonymous": None,
        "outsider": outsider,
        "robot": foreign_robot,
    }[caller]

    for method, path, body in _api_routes():
        shapes = []
        for project in references:
            response = httpx.request(
                method,
                f"{registry.url}{API}/projects/{project}{path}",
                json=body,
                auth=_basic(credentials) if credentials else None,
                timeout=30,
            )
            assert response.status_code in {401, 403}, describe(response)
            shapes.append(_api_shape(response, project))
        assert shapes[0] == shapes[1], f"{method} {path}"
