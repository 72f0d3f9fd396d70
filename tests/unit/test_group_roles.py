"""Project roles held through user groups, on a real database.

Local logins carry no group, so these tests build the principal that an
LDAP or OIDC login would produce: a user with `group_ids` set.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import delete

from seawall.auth import Principal
from seawall.auth.members import roles_by_project
from seawall.auth.principal import user_principal
from seawall.auth.roles import member_project_ids, project_roles
from seawall.cli.migrate import prepare
from seawall.context import RegistryContext
from seawall.db.models import Project, ProjectMember, User, UserGroup
from seawall.policy import (
    Action,
    Permission,
    ProjectFacts,
    ProjectRole,
    Resource,
    evaluate,
)
from seawall.security import facts_of, roles_of, visible_project_ids
from seawall.settings import Settings
from tests.support import databases

PUSH = Permission(Resource.REPOSITORY, Action.PUSH)


@dataclass(frozen=True)
class Fixture:
    registry: RegistryContext
    project: ProjectFacts
    user_id: int
    developers: int  # a group with the developer role in the project
    guests: int  # a group with the guest role in the project
    bystanders: int  # a group with no role in the project


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fixture]:
    folder: Path = tmp_path_factory.mktemp("group-roles")
    with databases.test_database_url(folder) as url:
        settings = Settings(
            data_dir=folder / "data", admin_password="Group-Roles-1", database_url=url
        )
        prepare(settings)
        registry = RegistryContext.from_settings(settings)
        with registry.db.session() as session:
            project = Project(name="groups-demo")
            user = User(username="member-of-groups", password_hash="x")
            groups = [
                UserGroup(group_name=name, group_type=2)
                for name in ("developers", "guests", "bystanders")
            ]
            session.add_all([project, user, *groups])
            session.flush()
            developers, guests, bystanders = (group.id for group in groups)
            for group_id, role in (
                (developers, ProjectRole.DEVELOPER),
                (guests, ProjectRole.GUEST),
            ):
                session.add(
                    ProjectMember(
                        project_id=project.id,
                        entity_type="g",
                        entity_id=group_id,
                        role_id=role.value,
                    )
                )
            facts = facts_of(project)
            user_id = user.id
        yield Fixture(registry, facts, user_id, developers, guests, bystanders)
        registry.db.dispose()


def principal_in(setup: Fixture, *group_ids: int) -> Principal:
    return user_principal(
        setup.user_id, "member-of-groups", False, frozenset(group_ids)
    )


def test_local_login_has_no_groups() -> None:
    assert user_principal(1, "local", False).group_ids == frozenset()


def test_group_role_granted(setup: Fixture) -> None:
    principal = principal_in(setup, setup.developers)

    roles = asyncio.run(roles_of(setup.registry, principal, setup.project))

    assert roles == frozenset({ProjectRole.DEVELOPER})
    assert evaluate(principal, setup.project, roles, PUSH).allowed


def test_no_group_no_role(setup: Fixture) -> None:
    principal = principal_in(setup)

    roles = asyncio.run(roles_of(setup.registry, principal, setup.project))

    assert roles == frozenset()
    assert not evaluate(principal, setup.project, roles, PUSH).allowed


def test_unrelated_group_no_role(setup: Fixture) -> None:
    principal = principal_in(setup, setup.bystanders)

    roles = asyncio.run(roles_of(setup.registry, principal, setup.project))

    assert roles == frozenset()


def test_roles_of_several_groups_unite(setup: Fixture) -> None:
    principal = principal_in(setup, setup.guests, setup.developers)

    roles = asyncio.run(roles_of(setup.registry, principal, setup.project))

    assert roles == frozenset({ProjectRole.GUEST, ProjectRole.DEVELOPER})


def test_direct_and_group_roles_unite(setup: Fixture) -> None:
    with setup.registry.db.session() as session:
        session.add(
            ProjectMember(
                project_id=setup.project.project_id,
                entity_type="u",
                entity_id=setup.user_id,
                role_id=ProjectRole.MAINTAINER.value,
            )
        )
    try:
        with setup.registry.db.session(read_only=True) as session:
            roles = project_roles(
                session,
                setup.project.project_id,
                setup.user_id,
                frozenset({setup.guests}),
            )
    finally:
        with setup.registry.db.session() as session:
            session.execute(
                delete(ProjectMember).where(
                    ProjectMember.entity_type == "u",
                    ProjectMember.entity_id == setup.user_id,
                )
            )

    assert roles == frozenset({ProjectRole.MAINTAINER, ProjectRole.GUEST})


def test_group_id_of_user_is_not_group(setup: Fixture) -> None:
    # A user row and a group row may share an id, and entity types keep them apart.
    with setup.registry.db.session(read_only=True) as session:
        roles = project_roles(session, setup.project.project_id, setup.developers)

    assert roles == frozenset()


def test_group_membership_makes_project_visible(setup: Fixture) -> None:
    principal = principal_in(setup, setup.guests)

    visible = asyncio.run(visible_project_ids(setup.registry, principal))

    assert setup.project.project_id in visible


def test_member_project_ids_without_groups(setup: Fixture) -> None:
    with setup.registry.db.session(read_only=True) as session:
        ids = member_project_ids(session, setup.user_id)

    assert setup.project.project_id not in ids


def test_roles_by_project_through_group(setup: Fixture) -> None:
    project_id = setup.project.project_id
    with setup.registry.db.session(read_only=True) as session:
        roles = roles_by_project(
            session, setup.user_id, [project_id], frozenset({setup.developers})
        )

    assert roles == {project_id: frozenset({ProjectRole.DEVELOPER})}
