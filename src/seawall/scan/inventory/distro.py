"""OSV ecosystems and purls of distribution packages, from the image's OS.

Names follow the OSV schema's ecosystem list:

- Debian: "Debian:<major VERSION_ID>", such as "Debian:12".
- Ubuntu: "Ubuntu:<YY.MM>", with ":LTS" appended for LTS releases, such as
  "Ubuntu:22.04:LTS". A release is LTS when its PRETTY_NAME contains "LTS", or,
  without a PRETTY_NAME, when it is an April release of an even year.
- Alpine: "Alpine:v<major>.<minor>"; Wolfi and Chainguard have no release.
- RPM: "Rocky Linux:<major>", "AlmaLinux:<major>", "Mageia:<VERSION_ID>",
  "Photon OS:<VERSION_ID>", and "openSUSE:<PRETTY_NAME>" or
  "SUSE:<PRETTY_NAME>". Red Hat scopes its records by product CPE, which
  os-release does not give, so RHEL packages get the bare "Red Hat".
"""

from __future__ import annotations

import re

from seawall.scan.inventory.purl import build_purl
from seawall.scan.inventory.records import DistroRecord
from seawall.scan.model import ALPINE, DEBIAN, UBUNTU, OperatingSystem, Package

_MAJOR_MINOR = re.compile(r"^(\d+)\.(\d+)")
_MAJOR = re.compile(r"^(\d+)")

_RPM_BY_MAJOR = {"rocky": "Rocky Linux", "almalinux": "AlmaLinux"}
_RPM_BY_VERSION = {"mageia": "Mageia", "photon": "Photon OS"}
_PURL_NAMESPACE = {"rhel": "redhat", "sles": "suse", "opensuse-leap": "opensuse"}


def _major(version_id: str) -> str:
    match = _MAJOR.match(version_id)
    return match.group(1) if match else ""


def _with_release(ecosystem: str, release: str) -> str:
    return f"{ecosystem}:{release}" if release else ecosystem


def _ubuntu_release(os: OperatingSystem) -> str:
    match = _MAJOR_MINOR.match(os.version_id)
    if match is None:
        return ""
    release = f"{match.group(1)}.{match.group(2)}"
    if os.pretty_name:
        is_lts = "LTS" in os.pretty_name.split()
    else:
        is_lts = match.group(2) == "04" and int(match.group(1)) % 2 == 0
    return f"{release}:LTS" if is_lts else release


def deb_ecosystem(os: OperatingSystem | None) -> tuple[str, str]:
    """Return (ecosystem, ecosystem_release) for dpkg packages."""
    if os is not None and os.id == "ubuntu":
        return UBUNTU, _with_release(UBUNTU, _ubuntu_release(os))
    version = _major(os.version_id) if os is not None and os.id == "debian" else ""
    return DEBIAN, _with_release(DEBIAN, version)


def apk_ecosystem(os: OperatingSystem | None) -> tuple[str, str]:
    if os is not None and os.id in ("wolfi", "chainguard"):
        name = os.id.title()
        return name, name
    match = _MAJOR_MINOR.match(os.version_id) if os is not None else None
    release = f"v{match.group(1)}.{match.group(2)}" if match else ""
    return ALPINE, _with_release(ALPINE, release)


def rpm_ecosystem(os: OperatingSystem | None) -> tuple[str, str]:
    if os is None:
        return "RPM", "RPM"
    if os.id in _RPM_BY_MAJOR:
        name = _RPM_BY_MAJOR[os.id]
        return name, _with_release(name, _major(os.version_id))
    if os.id in _RPM_BY_VERSION:
        name = _RPM_BY_VERSION[os.id]
        return name, _with_release(name, os.version_id)
    if os.id.startswith("opensuse"):
        return "openSUSE", _with_release("openSUSE", os.pretty_name)
    if os.id in ("sles", "sled", "sle-micro", "suse"):
        return "SUSE", _with_release("SUSE", os.pretty_name)
    if os.id == "rhel":
        return "Red Hat", "Red Hat"
    # NOTE: OSV has no ecosystem for this distribution (Fedora, CentOS,
    # Amazon Linux, ...), so its packages carry the os-release ID instead and
    # match no advisory.
    return os.id, _with_release(os.id, os.version_id)


def ecosystem_for(kind: str, os: OperatingSystem | None) -> tuple[str, str]:
    if kind == "deb":
        return deb_ecosystem(os)
    if kind == "apk":
        return apk_ecosystem(os)
    return rpm_ecosystem(os)


def _purl(record: DistroRecord, os: OperatingSystem | None) -> str:
    os_id = os.id if os is not None else ""
    if record.kind == "deb":
        namespace = os_id if os_id == "ubuntu" else "debian"
    elif record.kind == "apk":
        namespace = os_id or "alpine"
    else:
        namespace = _PURL_NAMESPACE.get(os_id, os_id.split("-")[0]) or "rpm"
    version = record.version
    if record.kind == "rpm" and record.epoch is not None:
        version = version.partition(":")[2]  # purl carries the epoch as a qualifier
    distro = f"{os_id}-{os.version_id}" if os is not None and os.version_id else os_id
    qualifiers = {
        "arch": record.arch or "",
        "epoch": record.epoch or "",
        "distro": distro,
    }
    return build_purl(
        record.kind, record.name, version, namespace=namespace, qualifiers=qualifiers
    )


def distro_package(
    record: DistroRecord,
    os: OperatingSystem | None,
    *,
    layer_index: int,
    layer_digest: str,
    location: str,
) -> Package:
    ecosystem, release = ecosystem_for(record.kind, os)
    return Package(
        name=record.name,
        version=record.version,
        ecosystem=ecosystem,
        ecosystem_release=release,
        purl=_purl(record, os),
        source_name=record.source_name,
        source_version=record.source_version,
        layer_index=layer_index,
        layer_digest=layer_digest,
        location=location,
        licenses=record.licenses,
    )
