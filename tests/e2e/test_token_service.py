"""The Docker token service and bearer tokens on `/v2/`."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select, update

from seawall.db import Database
from seawall.db.models import Project
from seawall.registry.cache import MetadataEpoch
from tests.e2e.protocol_helpers import (
    assert_error,
    describe,
    push_image,
    unique_name,
    unique_repository,
)
from tests.support.seed import create_project, create_user
from tests.support.server import ADMIN_PASSWORD, RunningRegistry

SERVICE = "harbor-registry"
ISSUER = "seawall-token-issuer"


def request_token(
    registry: RunningRegistry, scopes: list[str], auth: tuple[str, str] | None = None
) -> httpx.Response:
    params = [("service", SERVICE), *(("scope", scope) for scope in scopes)]
    return httpx.get(
        f"{registry.url}/service/token", params=params, auth=auth, timeout=30
    )


def token_access(response: httpx.Response) -> list[dict[str, object]]:
    """Return the token's access entries without the registry's project key."""
    assert response.status_code == 200, describe(response)
    claims = jwt.decode(response.json()["token"], options={"verify_signature": False})
    return [
        {key: value for key, value in entry.items() if key != "project"}
        for entry in claims["access"]
    ]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def signing_key(registry: RunningRegistry) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(
        (registry.data_dir / "token-signing-key.pem").read_bytes(), password=None
    )
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def forge(
    key: object, repository: str, actions: list[str], **overrides: object
) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": ISSUER,
        "sub": "admin",
        "aud": SERVICE,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "access": [{"type": "repository", "name": repository, "actions": actions}],
    }
    claims.update(overrides)
    return claims


def test_token_response_shape(registry: RunningRegistry) -> None:
    response = request_token(registry, ["repository:library/app:pull"])

    body = response.json()
    assert response.status_code == 200, describe(response)
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == 1800
    assert body["issued_at"].endswith("Z")


def test_anonymous_token_public_pull_only(registry: RunningRegistry) -> None:
    response = request_token(registry, ["repository:library/app:pull,push"])

    assert token_access(response) == [
        {"type": "repository", "name": "library/app", "actions": ["pull"]}
    ]


def test_admin_token_grants_requested(registry: RunningRegistry) -> None:
    response = request_token(
        registry, ["repository:library/app:pull,push"], auth=("admin", ADMIN_PASSWORD)
    )

    assert token_access(response) == [
        {"type": "repository", "name": "library/app", "actions": ["pull", "push"]}
    ]


def test_token_never_exceeds_request(registry: RunningRegistry) -> None:
    response = request_token(
        registry, ["repository:library/app:pull"], auth=("admin", ADMIN_PASSWORD)
    )

    assert token_access(response) == [
        {"type": "repository", "name": "library/app", "actions": ["pull"]}
    ]


def test_unknown_scopes_dropped(registry: RunningRegistry) -> None:
    response = request_token(
        registry,
        [
            "repository:library/app:pull,frobnicate",
            "plugin:library/app:pull",
            "nonsense",
            "repository:Not_A_Name:pull",
        ],
        auth=("admin", ADMIN_PASSWORD),
    )

    assert token_access(response) == [
        {"type": "repository", "name": "library/app", "actions": ["pull"]}
    ]


def test_private_project_anonymous_gets_nothing(registry: RunningRegistry) -> None:
    project = unique_name("tokpriv")
    create_project(registry, project, public=False)

    response = request_token(registry, [f"repository:{project}/app:pull"])

    assert token_access(response) == []


def test_catalog_scope_admin_only(registry: RunningRegistry) -> None:
    anonymous = request_token(registry, ["registry:catalog:*"])
    admin = request_token(
        registry, ["registry:catalog:*"], auth=("admin", ADMIN_PASSWORD)
    )

    assert token_access(anonymous) == []
    assert token_access(admin) == [
        {"type": "registry", "name": "catalog", "actions": ["*"]}
    ]


def test_bad_credentials_get_401(registry: RunningRegistry) -> None:
    response = request_token(
        registry, ["repository:library/app:pull"], auth=("admin", "wrong")
    )

    assert_error(response, 401, "UNAUTHORIZED")


def test_token_pulls_manifest(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    repository = unique_repository()
    push_image(admin_client, repository, "v1")
    token = request_token(registry, [f"repository:{repository}:pull"]).json()["token"]

    response = httpx.get(
        f"{registry.url}/v2/{repository}/manifests/v1",
        headers=bearer(token),
        timeout=30,
    )

    assert response.status_code == 200, describe(response)


def test_pull_token_cannot_push(registry: RunningRegistry) -> None:
    repository = unique_repository()
    token = request_token(
        registry, [f"repository:{repository}:pull"], auth=("admin", ADMIN_PASSWORD)
    ).json()["token"]

    response = httpx.post(
        f"{registry.url}/v2/{repository}/blobs/uploads/",
        headers=bearer(token),
        timeout=30,
    )

    assert_error(response, 401, "UNAUTHORIZED")
    assert "scope=" in response.headers["WWW-Authenticate"]


def test_token_bound_to_repository(registry: RunningRegistry) -> None:
    token = request_token(
        registry, ["repository:library/one:pull,push"], auth=("admin", ADMIN_PASSWORD)
    ).json()["token"]

    response = httpx.post(
        f"{registry.url}/v2/library/two/blobs/uploads/",
        headers=bearer(token),
        timeout=30,
    )

    assert_error(response, 401, "UNAUTHORIZED")


def test_token_with_jwk_header_rejected(registry: RunningRegistry) -> None:
    attacker = ec.generate_private_key(ec.SECP256R1())
    public_jwk = jwt.algorithms.ECAlgorithm.to_jwk(attacker.public_key(), as_dict=True)
    token = jwt.encode(
        forge(attacker, "library/app", ["pull", "push"]),
        attacker,
        algorithm="ES256",
        headers={"jwk": public_jwk},
    )

    response = httpx.post(
        f"{registry.url}/v2/library/app/blobs/uploads/",
        headers=bearer(token),
        timeout=30,
    )

    assert_error(response, 401, "UNAUTHORIZED")


def test_token_signed_by_other_key_rejected(registry: RunningRegistry) -> None:
    attacker = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(
        forge(attacker, "library/app", ["push"]), attacker, algorithm="ES256"
    )

    response = httpx.post(
        f"{registry.url}/v2/library/app/blobs/uploads/",
        headers=bearer(token),
        timeout=30,
    )

    assert_error(response, 401, "UNAUTHORIZED")


def test_unsigned_token_rejected(registry: RunningRegistry) -> None:
    token = jwt.encode(forge(None, "library/app", ["push"]), None, algorithm="none")

    response = httpx.post(
        f"{registry.url}/v2/library/app/blobs/uploads/",
        headers=bearer(token),
        timeout=30,
    )

    assert_error(response, 401, "UNAUTHORIZED")


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200},
        {"aud": "some-other-registry"},
        {"iss": "someone-else"},
    ],
    ids=["expired", "wrong-audience", "wrong-issuer"],
)
def test_invalid_claims_rejected(
    registry: RunningRegistry, overrides: dict[str, object]
) -> None:
    key = signing_key(registry)
    token = jwt.encode(
        forge(key, "library/app", ["push"], **overrides), key, algorithm="ES256"
    )

    response = httpx.post(
        f"{registry.url}/v2/library/app/blobs/uploads/",
        headers=bearer(token),
        timeout=30,
    )

    assert_error(response, 401, "UNAUTHORIZED")


def test_token_predating_project_rejected(
    registry: RunningRegistry, admin_client: httpx.Client
) -> None:
    """A token for a deleted project must not open a new project of the same name."""
    project = unique_name("recreated")
    create_project(registry, project, public=False)
    repository = f"{project}/app"
    token = request_token(
        registry, [f"repository:{repository}:pull,push"], auth=("admin", ADMIN_PASSWORD)
    ).json()["token"]
    database = Database(registry.database_url)
    try:
        with database.session() as session:
            session.execute(
                update(Project)
                .where(Project.name == project)
                .values(created_at=datetime.now(UTC) + timedelta(seconds=5))
            )
            assert session.scalars(
                select(Project.id).where(Project.name == project)
            ).one()
    finally:
        database.dispose()
    MetadataEpoch(registry.data_dir).bump()

    response = httpx.post(
        f"{registry.url}/v2/{repository}/blobs/uploads/",
        headers=bearer(token),
        timeout=30,
    )

    assert_error(response, 401, "UNAUTHORIZED")
    assert "earlier project" in response.text


def _tag_list_with_token(
    registry: RunningRegistry, repository: str, auth: tuple[str, str] | None
) -> httpx.Response:
    """Fetch a pull token for `repository` and try a tag list with it."""
    token = request_token(registry, [f"repository:{repository}:pull"], auth).json()[
        "token"
    ]
    return httpx.get(
        f"{registry.url}/v2/{repository}/tags/list", headers=bearer(token), timeout=30
    )


@pytest.mark.parametrize("caller", ["user", "anonymous"])
def test_token_refusal_hides_private_projects(
    registry: RunningRegistry, caller: str
) -> None:
    """A token that grants nothing gets the same refusal for a private project
    and for a project that does not exist."""
    private = unique_name("hidden")
    create_project(registry, private, public=False)
    missing = unique_name("absent")
    auth: tuple[str, str] | None = None
    if caller == "user":
        username = unique_name("outsider")
        create_user(registry, username, "Outsider-Pass1")
        auth = (username, "Outsider-Pass1")

    existing = _tag_list_with_token(registry, f"{private}/app", auth)
    absent = _tag_list_with_token(registry, f"{missing}/app", auth)

    assert_error(existing, 401, "UNAUTHORIZED")
    assert_error(absent, 401, "UNAUTHORIZED")
    assert existing.text.replace(private, "<project>") == absent.text.replace(
        missing, "<project>"
    )
    assert existing.headers["WWW-Authenticate"].replace(
        private, "<project>"
    ) == absent.headers["WWW-Authenticate"].replace(missing, "<project>")
    assert "earlier project" not in existing.text


def test_admin_token_names_missing_project(registry: RunningRegistry) -> None:
    """A system administrator's token in a missing project gets NAME_UNKNOWN, so
    docker and skopeo show which project to create."""
    missing = unique_name("absent")
    repository = f"{missing}/app"
    token = request_token(
        registry,
        [f"repository:{repository}:pull,push"],
        ("admin", ADMIN_PASSWORD),
    ).json()["token"]
    blob = f"sha256:{'0' * 64}"

    probe = httpx.head(
        f"{registry.url}/v2/{repository}/blobs/{blob}",
        headers=bearer(token),
        timeout=30,
    )
    start = httpx.post(
        f"{registry.url}/v2/{repository}/blobs/uploads/",
        headers=bearer(token),
        timeout=30,
    )

    assert probe.status_code == 404, describe(probe)
    assert "WWW-Authenticate" not in probe.headers
    assert_error(start, 404, "NAME_UNKNOWN")
    assert f"project '{missing}' not found" in start.text


def test_user_token_keeps_missing_project_hidden(registry: RunningRegistry) -> None:
    """An ordinary user's token in a missing project still gets 401."""
    username = unique_name("pusher")
    create_user(registry, username, "Pusher-Pass1")
    repository = f"{unique_name('absent')}/app"
    token = request_token(
        registry,
        [f"repository:{repository}:pull,push"],
        (username, "Pusher-Pass1"),
    ).json()["token"]

    start = httpx.post(
        f"{registry.url}/v2/{repository}/blobs/uploads/",
        headers=bearer(token),
        timeout=30,
    )

    assert_error(start, 401, "UNAUTHORIZED")
    assert "not found" not in start.text
