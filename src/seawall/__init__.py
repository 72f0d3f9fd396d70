"""Seawall: a secure OCI container registry with a Harbor-compatible API."""

__version__ = "0.1.0"
