"""First-start setup: the admin user, the `library` project, the built-in scanner."""

from __future__ import annotations

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from seawall.auth import hash_password, verify_password
from seawall.auth.users import InvalidUserInput, check_password_policy
from seawall.db.models import Project, ProjectMember, ProjectMetadata, User
from seawall.policy.rbac import ProjectRole
from seawall.scan.registrations import ensure_builtin_scanner
from seawall.settings import DEFAULT_ADMIN_PASSWORD

logger = structlog.get_logger(__name__)


def bootstrap(session: Session, admin_password: str) -> None:
    """Create `admin`, `library` and the built-in scanner if they do not exist yet."""
    admin = session.scalars(select(User).where(User.username == "admin")).one_or_none()
    if admin is None:
        admin = User(
            username="admin", password_hash=hash_password(admin_password), sysadmin=True
        )
        session.add(admin)
        session.flush()
        logger.info("admin user created", username="admin")
        if admin_password != DEFAULT_ADMIN_PASSWORD:
            _warn_if_weak(admin_password)
    elif admin_password != DEFAULT_ADMIN_PASSWORD and not verify_password(
        admin.password_hash, admin_password
    ):
        logger.warning(
            "SEAWALL_ADMIN_PASSWORD is used only when user admin is created on the "
            "first start; admin keeps its stored password. Change it with "
            f"PUT /api/v2.0/users/{admin.id}/password",
            username="admin",
        )
    library = session.scalars(
        select(Project).where(Project.name == "library")
    ).one_or_none()
    if library is None:
        library = Project(name="library", owner_id=admin.id)
        library.metadata_items.append(ProjectMetadata(name="public", value="true"))
        session.add(library)
        session.flush()
        # As in Harbor, the owner is the project's first projectAdmin member.
        session.add(
            ProjectMember(
                project_id=library.id,
                entity_type="u",
                entity_id=admin.id,
                role_id=ProjectRole.PROJECT_ADMIN.value,
            )
        )
        logger.info("project created", project="library", public=True)
    ensure_builtin_scanner(session)


def _warn_if_weak(password: str) -> None:
    """Log a warning when the first admin password breaks the user password policy.

    The start goes on, because the operator chose the password; the API
    refuses such a password for every other account.
    """
    try:
        check_password_policy(password)
    except InvalidUserInput as exc:
        logger.warning(
            "admin password is weak; change it before anyone else can reach "
            "this registry",
            username="admin",
            policy=exc.message,
        )


def admin_has_default_password(session: Session) -> bool:
    """Return whether user admin still has Harbor's public default password."""
    admin = session.scalars(select(User).where(User.username == "admin")).one_or_none()
    return admin is not None and verify_password(
        admin.password_hash, DEFAULT_ADMIN_PASSWORD
    )
