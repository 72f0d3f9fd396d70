"""Render the permission table as Markdown for `docs/permissions.md`.

Run `python -m seawall.policy.docs > docs/permissions.md` after changing
`policy/rbac.py`; a test fails while the page and the table disagree.
"""

from __future__ import annotations

from seawall.policy.rbac import (
    PUBLIC_PERMISSIONS,
    ROBOT_PROJECT_PERMISSIONS,
    ROLE_PERMISSIONS,
    Action,
    Permission,
    ProjectRole,
    Resource,
)

_ROLE_ORDER = [
    ProjectRole.PROJECT_ADMIN,
    ProjectRole.MAINTAINER,
    ProjectRole.DEVELOPER,
    ProjectRole.GUEST,
    ProjectRole.LIMITED_GUEST,
]


def _all_permissions() -> list[Permission]:
    known: set[Permission] = set(PUBLIC_PERMISSIONS) | set(ROBOT_PROJECT_PERMISSIONS)
    for granted in ROLE_PERMISSIONS.values():
        known |= granted
    resources = list(Resource)
    actions = list(Action)
    return sorted(
        known, key=lambda p: (resources.index(p.resource), actions.index(p.action))
    )


def render() -> str:
    header = ["permission", *(f"{r.harbor_name} ({r.value})" for r in _ROLE_ORDER)]
    header += ["public project", "robot may hold"]
    lines = [
        "# Permissions",
        "",
        "Generated from `src/seawall/policy/rbac.py` by",
        "`python -m seawall.policy.docs`; do not edit by hand.",
        "",
        "Project permissions by role. A system administrator holds every",
        "permission. The public project column is what a public project grants",
        "to every caller, anonymous included. A user's permissions are the union",
        "of their roles and, in a public project, of that column. A robot holds",
        "exactly the permissions it was created with, from the last column, and",
        "`repository:push` also grants `repository:pull`.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for permission in _all_permissions():
        cells = [f"`{permission}`"]
        cells += [
            "yes" if permission in ROLE_PERMISSIONS[r] else "" for r in _ROLE_ORDER
        ]
        cells.append("yes" if permission in PUBLIC_PERMISSIONS else "")
        cells.append("yes" if permission in ROBOT_PROJECT_PERMISSIONS else "")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Registry operations",
        "",
        "| operation on `/v2/` | permission checked |",
        "|---|---|",
        "| pull a manifest, blob, tag list or referrers list | `repository:pull` |",
        "| push: uploads, mounts, manifest PUT | `repository:push` |",
        "| delete a manifest by digest | `artifact:delete` |",
        "| delete a tag (manifest DELETE by tag) | `tag:delete` |",
        "| delete a blob link | `repository:delete` |",
        "| catalog | lists only repositories of projects the caller may read |",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
