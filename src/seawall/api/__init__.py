"""The Harbor-compatible REST API on `/api/v2.0`."""

from seawall.api.app import create_api

__all__ = ["create_api"]
