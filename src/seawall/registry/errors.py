"""Domain exceptions raised by the registry services.

Each surface maps these to its own error format: `oci.errors` turns them
into OCI Distribution error codes.

    RegistryError
    ├── NameInvalid          repository name or tag breaks the grammar
    ├── ProjectNotFound      first path element names no project
    ├── RepositoryNotFound
    ├── BlobNotFound
    ├── UploadNotFound
    ├── UploadInvalid        upload request that cannot be applied
    │   └── RangeNotSatisfiable  chunk does not start at the current offset
    ├── DigestInvalid        malformed digest, or content that does not match it
    ├── DigestUnsupported    well-formed digest with an unknown algorithm
    ├── SizeInvalid          length that disagrees with the content
    ├── ManifestNotFound
    ├── ManifestInvalid
    │   └── ManifestTooLarge
    ├── ManifestBlobUnknown  manifest refers to content not in the repository
    ├── ManifestInUse        manifest still listed by an image index
    ├── StorageFull          the disk or a size limit refused a write
    └── Unsupported          operation the registry does not offer
"""

from __future__ import annotations


class RegistryError(Exception):
    """Base of every error a registry service raises on purpose."""

    def __init__(self, message: str, detail: object | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class NameInvalid(RegistryError):
    pass


class ProjectNotFound(RegistryError):
    def __init__(self, project: str) -> None:
        super().__init__(
            f"project {project!r} not found; create it before pushing to it",
            {"project": project},
        )
        self.project = project


class RepositoryNotFound(RegistryError):
    def __init__(self, name: str) -> None:
        super().__init__(f"repository {name!r} not found", {"name": name})


class BlobNotFound(RegistryError):
    def __init__(self, digest: str) -> None:
        super().__init__(
            f"blob {digest} not found in this repository", {"digest": digest}
        )


class UploadNotFound(RegistryError):
    def __init__(self, upload_id: str) -> None:
        super().__init__(
            f"upload {upload_id!r} not found; it may have completed, been cancelled or expired",
            {"upload": upload_id},
        )


class UploadInvalid(RegistryError):
    pass


class RangeNotSatisfiable(UploadInvalid):
    def __init__(self, message: str, size: int) -> None:
        super().__init__(message, {"size": size})
        self.size = size


class DigestInvalid(RegistryError):
    pass


class DigestUnsupported(RegistryError):
    pass


class SizeInvalid(RegistryError):
    pass


class ManifestNotFound(RegistryError):
    def __init__(self, name: str, reference: str) -> None:
        super().__init__(
            f"manifest {reference!r} not found in repository {name!r}",
            {"name": name, "reference": reference},
        )


class ManifestInvalid(RegistryError):
    pass


class ManifestTooLarge(ManifestInvalid):
    pass


class ManifestBlobUnknown(RegistryError):
    def __init__(self, digest: str, kind: str) -> None:
        super().__init__(
            f"manifest refers to {kind} {digest}, which is not in this repository; "
            "push it first",
            {"digest": digest},
        )


class Unsupported(RegistryError):
    pass


class ManifestInUse(RegistryError):
    """A manifest that an image index in the same repository still lists."""

    def __init__(self, digest: str, parent: str) -> None:
        super().__init__(
            f"manifest {digest} is part of image index {parent}; delete the index first",
            {"digest": digest, "index": parent},
        )


class StorageFull(RegistryError):
    """The filesystem refused an upload write: no space, a quota or a file size limit."""

    def __init__(self, upload_id: str, size: int, reason: str) -> None:
        super().__init__(
            f"the registry could not store the upload: {reason}; the upload "
            f"keeps its first {size} bytes, so retry once the registry has space",
            {"upload": upload_id, "size": size},
        )
