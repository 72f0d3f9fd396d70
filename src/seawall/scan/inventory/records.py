"""The values that file parsers return to the layer walker."""

from __future__ import annotations

from dataclasses import dataclass, field

from seawall.scan.model import OperatingSystem, Package


@dataclass(frozen=True, slots=True)
class FileContext:
    """Where a file being parsed sits in the image."""

    path: str  # normalised path inside the image root, without a leading "/"
    layer_index: int
    layer_digest: str

    def package(
        self,
        *,
        name: str,
        version: str,
        ecosystem: str,
        purl: str,
        licenses: tuple[str, ...] = (),
        location: str | None = None,
    ) -> Package:
        """Build a language `Package` found in this file.

        Language ecosystems have no release, so `ecosystem_release` is the
        ecosystem itself. `location` defaults to the file's own path.
        """
        return Package(
            name=name,
            version=version,
            ecosystem=ecosystem,
            ecosystem_release=ecosystem,
            purl=purl,
            layer_index=self.layer_index,
            layer_digest=self.layer_digest,
            location=location if location is not None else self.path,
            licenses=licenses,
        )


@dataclass(frozen=True, slots=True)
class DistroRecord:
    """One installed distribution package, before the release is known.

    The ecosystem release of a Debian, Alpine or RPM package depends on the
    operating system of the whole image, which may come from another layer,
    so these records become `Package` values only after every layer is read.
    """

    kind: str  # "deb", "apk" or "rpm"
    name: str
    version: str
    source_name: str | None = None
    source_version: str | None = None
    arch: str | None = None
    epoch: str | None = None  # RPM only, also part of `version`
    licenses: tuple[str, ...] = ()


@dataclass(slots=True)
class FileResult:
    """What one file of the image contributes to the inventory."""

    packages: list[Package] = field(default_factory=list)
    distro_packages: list[DistroRecord] = field(default_factory=list)
    os: OperatingSystem | None = None
    warnings: list[str] = field(default_factory=list)
    # A lockfile lists what should be installed, so its entries give way to
    # installed records of the same package in its directory tree.
    is_lockfile: bool = False
