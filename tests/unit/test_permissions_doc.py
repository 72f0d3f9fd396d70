"""The permissions page matches the permission table it is generated from."""

from __future__ import annotations

from pathlib import Path

from seawall.policy.docs import render

DOC = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"


def test_permissions_doc_current() -> None:
    assert DOC.read_text() == render(), (
        "docs/permissions.md is stale: run python -m seawall.policy.docs > docs/permissions.md"
    )
