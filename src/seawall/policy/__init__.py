"""Policy: every allow or deny decision, each with its reason."""

from seawall.policy.access import (
    ProjectFacts,
    SystemResource,
    catalog_scope,
    evaluate,
    evaluate_system,
    project_permissions,
)
from seawall.policy.decision import Decision
from seawall.policy.rbac import Action, Permission, ProjectRole, Resource

__all__ = [
    "Action",
    "Decision",
    "Permission",
    "ProjectFacts",
    "ProjectRole",
    "Resource",
    "SystemResource",
    "catalog_scope",
    "evaluate",
    "evaluate_system",
    "project_permissions",
]
