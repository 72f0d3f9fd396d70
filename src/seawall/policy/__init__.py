"""Policy: every allow or deny decision, each with its reason."""

from seawall.policy.access import Action, ProjectFacts, catalog_scope, decide
from seawall.policy.decision import Decision

__all__ = ["Action", "Decision", "ProjectFacts", "catalog_scope", "decide"]
