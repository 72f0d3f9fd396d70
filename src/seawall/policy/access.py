"""Who may pull, push or delete in a project.

This is the one place that decides access to registry content. For now it
knows two kinds of caller: system administrators, who may do everything,
and everyone else, who may pull from public projects only. Project members
and robot accounts will be added to this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from seawall.auth import Principal
from seawall.policy.decision import Decision, allow, deny
from seawall.registry.listings import CatalogScope


class Action(StrEnum):
    PULL = "pull"
    PUSH = "push"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class ProjectFacts:
    """What the access check needs to know about a project."""

    project_id: int
    name: str
    public: bool


def decide(principal: Principal, project: ProjectFacts, action: Action) -> Decision:
    """Decide whether `principal` may perform `action` in `project`."""
    if principal.sysadmin:
        return allow("system administrator", "sysadmin")
    if action is Action.PULL and project.public:
        return allow(f"project {project.name} is public", "public-project-pull")
    who = "anonymous caller" if principal.anonymous else f"user {principal.username}"
    return deny(
        f"{who} may not {action.value} in project {project.name}",
        "default-deny",
    )


def catalog_scope(principal: Principal) -> CatalogScope:
    """Return which projects' repositories `principal` may list."""
    if principal.sysadmin:
        return CatalogScope(all_projects=True)
    return CatalogScope(public_projects=True)
