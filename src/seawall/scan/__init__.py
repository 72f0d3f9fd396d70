"""Image scanning: package inventory, vulnerability reports, SBOMs, adapters."""
