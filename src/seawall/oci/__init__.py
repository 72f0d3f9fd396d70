"""The OCI Distribution v1.1 protocol on `/v2/`: routes and error codes, no policy."""

from seawall.oci.routes import routes

__all__ = ["routes"]
