"""Shell commands written for Harbor's API, run unchanged through bash against Seawall.

Each command is written as an operator would write it for Harbor, with
three substitutions: the host (`HOST`), the admin password (`PASSWORD`)
and, when the shared test server already has them, the names `production`,
`myproject` and `developer1`. The commands use `http://` and no `-k`,
because the test server speaks plain HTTP. The test adds only
`-s -o FILE -w '%{http_code}'` to each `curl`, to read the status and body.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from seawall.db import Database
from seawall.db.models import User
from tests.support.scanning import import_unrelated_advisory, wait_for_scan
from tests.support.server import ADMIN_PASSWORD, RunningRegistry

CREATE_PRODUCTION = (
    'curl -X POST "http://HOST/api/v2.0/projects"'
    ' -H "Content-Type: application/json"'
    ' -H "Authorization: Basic $(echo -n admin:PASSWORD | base64)"'
    """ -d '{"project_name":"production","metadata":{"public":"false","""
    """"auto_scan":"true","prevent_vul":"true","severity":"high"}}'"""
)
CREATE_MYPROJECT = (
    'curl -X POST "http://HOST/api/v2.0/projects"'
    ' -H "Content-Type: application/json"'
    ' -H "Authorization: Basic $(echo -n admin:PASSWORD | base64)"'
    """ -d '{"project_name":"myproject","metadata":{"public":"false","""
    """"prevent_vul":"true"}}'"""
)
UPDATE_MYPROJECT = (
    'curl -X PUT "http://HOST/api/v2.0/projects/myproject"'
    ' -H "Content-Type: application/json"'
    ' -H "Authorization: Basic $(echo -n admin:PASSWORD | base64)"'
    """ -d '{"metadata":{"auto_scan":"true","severity":"critical"}}'"""
)
GET_MYPROJECT = (
    'curl "http://HOST/api/v2.0/projects/myproject"'
    ' -H "Authorization: Basic $(echo -n admin:PASSWORD | base64)"'
)
CREATE_DEVELOPER = (
    'curl -X POST "http://HOST/api/v2.0/users"'
    ' -H "Content-Type: application/json"'
    ' -H "Authorization: Basic $(echo -n admin:PASSWORD | base64)"'
    """ -d '{"username":"developer1","email":"developer1@example.com","""
    """"realname":"Developer One","password":"Developer1-Pass","comment":""}'"""
)
ADD_GUEST = (
    'curl -X POST "http://HOST/api/v2.0/projects/production/members"'
    ' -H "Content-Type: application/json"'
    ' -H "Authorization: Basic $(echo -n admin:PASSWORD | base64)"'
    """ -d '{"role_id":3,"member_user":{"username":"developer1"}}'"""
)
LIST_MEMBERS = (
    'curl "http://HOST/api/v2.0/projects/production/members"'
    ' -H "Authorization: Basic $(echo -n admin:PASSWORD | base64)"'
)
DEVELOPER_PASSWORD = "Developer1-Pass"
SKOPEO_TIMEOUT_SECONDS = 300


@dataclass
class Reply:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HarborScript:
    """Harbor command templates and the test server they run against."""

    registry: RunningRegistry
    folder: Path
    names: dict[str, str] = field(default_factory=dict)

    def command(self, template: str) -> str:
        text = template.replace("HOST", self.registry.host)
        text = text.replace("PASSWORD", ADMIN_PASSWORD)
        for original, replacement in self.names.items():
            text = text.replace(original, replacement)
        return text

    def run(self, template: str) -> Reply:
        """Run one curl command and return its status code and body."""
        command = self.command(template)
        assert command.startswith("curl "), command
        output = self.folder / f"reply-{uuid.uuid4().hex}"
        flags = f"curl -s -o {shlex.quote(str(output))} -w '%{{http_code}}' "
        result = subprocess.run(
            ["bash", "-c", flags + command.removeprefix("curl ")],
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr.decode(errors="replace")
        body = output.read_bytes() if output.exists() else b""
        return Reply(int(result.stdout.decode()), body)


def _suffixed(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def free_project(registry: RunningRegistry, name: str) -> str:
    """Return `name`, or a variant of it if the server already has that project."""
    response = httpx.head(
        f"{registry.url}/api/v2.0/projects",
        params={"project_name": name},
        auth=("admin", ADMIN_PASSWORD),
    )
    return _suffixed(name) if response.status_code == 200 else name


def free_username(registry: RunningRegistry, name: str) -> str:
    """Return `name`, or a variant of it if the server already has that user."""
    database = Database(registry.database_url)
    try:
        with database.session(read_only=True) as session:
            taken = session.scalars(select(User.id).where(User.username == name))
            exists = taken.first() is not None
    finally:
        database.dispose()
    return _suffixed(name) if exists else name


@pytest.fixture
def script(registry: RunningRegistry, tmp_path: Path) -> HarborScript:
    return HarborScript(registry, tmp_path)


class Skopeo:
    """A skopeo runner with an auth file of its own, so no login on the host leaks in."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("skopeo")
        if binary is None:
            pytest.fail(
                "skopeo not found on PATH; install it with `apt-get install skopeo`"
            )
        self.binary = binary
        auth_file = folder / "auth.json"
        auth_file.write_text('{"auths": {}}')
        self.env = {**os.environ, "REGISTRY_AUTH_FILE": str(auth_file)}

    def copy(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [self.binary, "copy", *args],
            capture_output=True,
            env=self.env,
            timeout=SKOPEO_TIMEOUT_SECONDS,
            check=False,
        )


def test_create_production(script: HarborScript, admin_client: httpx.Client) -> None:
    production = free_project(script.registry, "production")
    script.names["production"] = production

    reply = script.run(CREATE_PRODUCTION)

    assert reply.status == 201, reply.body
    project = admin_client.get(f"/api/v2.0/projects/{production}").json()
    assert project["metadata"] == {
        "public": "false",
        "auto_scan": "true",
        "prevent_vul": "true",
        "severity": "high",
    }


def test_update_myproject(script: HarborScript) -> None:
    script.names["myproject"] = free_project(script.registry, "myproject")
    assert script.run(CREATE_MYPROJECT).status == 201

    reply = script.run(UPDATE_MYPROJECT)

    assert reply.status == 200, reply.body
    project = script.run(GET_MYPROJECT)
    assert project.status == 200
    assert project.json()["metadata"] == {
        "public": "false",
        "prevent_vul": "true",
        "auto_scan": "true",
        "severity": "critical",
    }


def test_guest_pulls_but_cannot_push(
    script: HarborScript, registry: RunningRegistry, testdata: Path, tmp_path: Path
) -> None:
    # The gate refuses images matched while no advisory was imported.
    import_unrelated_advisory(registry, tmp_path)
    production = free_project(registry, "production")
    developer = free_username(registry, "developer1")
    script.names.update({"production": production, "developer1": developer})
    assert script.run(CREATE_PRODUCTION).status == 201
    assert script.run(CREATE_DEVELOPER).status == 201

    added = script.run(ADD_GUEST)

    assert added.status == 201, added.body
    members = script.run(LIST_MEMBERS).json()
    roles = {member["entity_name"]: member["role_name"] for member in members}
    assert roles[developer] == "guest"

    skopeo = Skopeo(tmp_path)
    source = f"oci:{testdata / 'images' / 'clean'}:1.0"
    image = f"docker://{registry.host}/{production}/app"
    pushed = skopeo.copy(
        "--dest-tls-verify=false",
        "--dest-creds",
        f"admin:{ADMIN_PASSWORD}",
        source,
        f"{image}:1.0",
    )
    assert pushed.returncode == 0, pushed.stderr.decode(errors="replace")
    # The project blocks pulls while the scan that the push started runs.
    with httpx.Client(
        base_url=f"{registry.url}/api/v2.0",
        auth=("admin", ADMIN_PASSWORD),
        timeout=30,
    ) as api:
        wait_for_scan(api, production, "app", "1.0")

    developer_creds = f"{developer}:{DEVELOPER_PASSWORD}"
    pulled = skopeo.copy(
        "--src-tls-verify=false",
        "--src-creds",
        developer_creds,
        f"{image}:1.0",
        f"oci:{tmp_path / 'pulled'}:1.0",
    )
    assert pulled.returncode == 0, pulled.stderr.decode(errors="replace")

    refused = skopeo.copy(
        "--dest-tls-verify=false",
        "--dest-creds",
        developer_creds,
        source,
        f"{image}:dev",
    )
    assert refused.returncode != 0
    message = refused.stderr.decode(errors="replace").lower()
    assert "unauthorized" in message or "denied" in message, message
    tags = httpx.get(
        f"{registry.url}/v2/{production}/app/tags/list",
        auth=("admin", ADMIN_PASSWORD),
    ).json()
    assert tags["tags"] == ["1.0"]
