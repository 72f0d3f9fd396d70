"""Each package format, read through `read_inventory` from synthetic layers."""

from __future__ import annotations

import io
import json
import sqlite3
import zipfile
import zlib
from pathlib import Path

import pytest

from seawall.scan.inventory import Limits, read_inventory, read_inventory_with_limits
from seawall.scan.model import Inventory, Package
from tests.unit.scan.layer_builder import (
    DEBIAN_12,
    Entry,
    elf_with_section,
    file,
    go_binary,
    layer,
    rpm_header,
)

DPKG_STATUS = """\
Package: libc6
Status: install ok installed
Source: glibc (2.36-9)
Version: 2.36-9+deb12u1
Architecture: amd64

Package: removed-tool
Status: deinstall ok config-files
Version: 1.0-1
Architecture: amd64

Package: zlib1g
Status: install ok installed
Source: zlib
Version: 1:1.2.13.dfsg-1
Architecture: amd64
"""


def only(inventory: Inventory) -> Package:
    [package] = inventory.packages
    return package


def read_one(*entries: Entry) -> Inventory:
    return read_inventory("sha256:m", [layer(*entries)])


def test_dpkg_status_installed_only() -> None:
    inventory = read_one(
        file("etc/os-release", DEBIAN_12), file("var/lib/dpkg/status", DPKG_STATUS)
    )

    libc6, zlib1g = inventory.packages
    assert (libc6.name, libc6.source_name, libc6.source_version) == (
        "libc6",
        "glibc",
        "2.36-9",
    )
    assert libc6.ecosystem_release == "Debian:12"
    assert (zlib1g.source_name, zlib1g.source_version) == ("zlib", "1:1.2.13.dfsg-1")
    assert inventory.warnings == []


def test_dpkg_status_d_distroless() -> None:
    stanza = "Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n"
    inventory = read_one(
        file("etc/os-release", DEBIAN_12),
        file("var/lib/dpkg/status.d/tzdata", stanza),
        file("var/lib/dpkg/status.d/tzdata.md5sums", "abc  usr/share/zoneinfo/UTC\n"),
    )

    package = only(inventory)
    assert (package.name, package.version) == ("tzdata", "2024a-0+deb12u1")
    assert package.location == "var/lib/dpkg/status.d/tzdata"
    assert (
        package.purl
        == "pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1?arch=all&distro=debian-12"
    )


def test_dpkg_malformed_stanzas_warn() -> None:
    status = "Package: broken\nStatus: install ok installed\n\n" + DPKG_STATUS
    inventory = read_one(
        file("etc/os-release", DEBIAN_12), file("var/lib/dpkg/status", status)
    )

    assert [p.name for p in inventory.packages] == ["libc6", "zlib1g"]
    [warning] = inventory.warnings
    assert warning.endswith(
        "var/lib/dpkg/status: stanza 1 has no Package or Version field; skipped"
    )


def test_dpkg_binary_garbage_warns() -> None:
    inventory = read_one(file("var/lib/dpkg/status", bytes(range(256)) * 4))

    assert inventory.packages == []
    [warning] = inventory.warnings
    assert warning.endswith("no stanza with a Package field; not a dpkg database")


@pytest.mark.parametrize(
    ("os_release", "release"),
    [
        (
            'ID=ubuntu\nVERSION_ID="22.04"\nPRETTY_NAME="Ubuntu 22.04.4 LTS"\n',
            "Ubuntu:22.04:LTS",
        ),
        ('ID=ubuntu\nVERSION_ID="23.10"\nPRETTY_NAME="Ubuntu 23.10"\n', "Ubuntu:23.10"),
        ('ID=ubuntu\nVERSION_ID="24.04"\n', "Ubuntu:24.04:LTS"),
        ('ID=debian\nPRETTY_NAME="Debian GNU/Linux trixie/sid"\n', "Debian"),
    ],
)
def test_dpkg_release_from_os(os_release: str, release: str) -> None:
    inventory = read_one(
        file("etc/os-release", os_release), file("var/lib/dpkg/status", DPKG_STATUS)
    )

    assert {p.ecosystem_release for p in inventory.packages} == {release}


def test_os_release_fallback_path() -> None:
    inventory = read_one(file("usr/lib/os-release", "ID='alpine'\nVERSION_ID=3.19.1\n"))

    assert inventory.os is not None
    assert (inventory.os.id, inventory.os.version_id) == ("alpine", "3.19.1")


def test_apk_installed_database() -> None:
    database = (
        "C:Q1abc=\nP:libcrypto3\nV:3.1.4-r5\nA:x86_64\nL:Apache-2.0\no:openssl\n\n"
        "P:musl\nV:1.2.4_git20230717-r4\nA:x86_64\nL:MIT\no:musl\n\n"
        "P:no-version\n"
    )
    inventory = read_one(
        file("etc/os-release", "ID=alpine\nVERSION_ID=3.19.1\n"),
        file("lib/apk/db/installed", database),
    )

    libcrypto, musl = inventory.packages
    assert (libcrypto.source_name, libcrypto.ecosystem_release) == (
        "openssl",
        "Alpine:v3.19",
    )
    assert libcrypto.licenses == ("Apache-2.0",)
    assert (
        libcrypto.purl
        == "pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=alpine-3.19.1"
    )
    assert musl.version == "1.2.4_git20230717-r4"
    [warning] = inventory.warnings
    assert warning.endswith(
        "lib/apk/db/installed: entry 3 has no P: or V: field; skipped"
    )


def _rpmdb(tmp_path: Path, blobs: list[bytes]) -> bytes:
    path = tmp_path / "rpmdb.sqlite"
    connection = sqlite3.connect(path)
    connection.execute(
        "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)"
    )
    connection.executemany(
        "INSERT INTO Packages (blob) VALUES (?)", [(blob,) for blob in blobs]
    )
    connection.commit()
    connection.close()
    return path.read_bytes()


ROCKY_9 = 'ID="rocky"\nVERSION_ID="9.3"\nPRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"\n'


def test_rpm_sqlite_database(tmp_path: Path) -> None:
    bash = rpm_header(
        {
            1000: "bash",
            1001: "5.1.8",
            1002: "6.el9_1",
            1014: "GPLv3+",
            1022: "x86_64",
            1044: "bash-5.1.8-6.el9_1.src.rpm",
        }
    )
    openssl = rpm_header(
        {
            1000: "openssl-libs",
            1001: "3.0.7",
            1002: "25.el9_3",
            1003: 1,
            1022: "x86_64",
            1044: "openssl-3.0.7-25.el9_3.src.rpm",
        }
    )
    key = rpm_header({1000: "gpg-pubkey", 1001: "350d275d", 1002: "6395c6b3"})
    database = _rpmdb(tmp_path, [bash, openssl, key])

    inventory = read_one(
        file("etc/os-release", ROCKY_9),
        file("usr/lib/sysimage/rpm/rpmdb.sqlite", database),
    )

    bash_package, openssl_package = inventory.packages
    assert (bash_package.name, bash_package.version) == ("bash", "5.1.8-6.el9_1")
    assert (bash_package.source_name, bash_package.source_version) == (
        "bash",
        "5.1.8-6.el9_1",
    )
    assert bash_package.ecosystem_release == "Rocky Linux:9"
    assert bash_package.licenses == ("GPLv3+",)
    assert openssl_package.version == "1:3.0.7-25.el9_3"
    assert openssl_package.source_name == "openssl"
    assert openssl_package.purl == (
        "pkg:rpm/rocky/openssl-libs@3.0.7-25.el9_3?arch=x86_64&distro=rocky-9.3&epoch=1"
    )
    assert inventory.warnings == []


def test_rpm_corrupt_header_warns(tmp_path: Path) -> None:
    good = rpm_header({1000: "bash", 1001: "5.1.8", 1002: "6.el9"})
    overrun = bytearray(good)
    overrun[4:8] = (10**6).to_bytes(4, "big")  # data length past the blob's end
    pointer = bytearray(good)
    pointer[16:20] = (10**6).to_bytes(4, "big")  # first tag's offset outside the store
    database = _rpmdb(tmp_path, [bytes(overrun), bytes(pointer), b"\x00\x01", good])

    inventory = read_one(
        file("etc/os-release", ROCKY_9), file("var/lib/rpm/rpmdb.sqlite", database)
    )

    assert [p.name for p in inventory.packages] == ["bash"]
    assert [w.split("rpmdb.sqlite: ")[1] for w in inventory.warnings] == [
        f"package 1: invalid RPM header: header declares {8 + 3 * 16 + 10**6} bytes "
        f"but the blob has {len(good)}",
        "package 2: invalid RPM header: tag 1000 points outside the data store",
        "package 3: invalid RPM header: header shorter than its 8-byte preamble",
    ]


def test_rpm_hostile_sqlite_warns(tmp_path: Path) -> None:
    path = tmp_path / "view.sqlite"
    connection = sqlite3.connect(path)
    connection.execute("CREATE VIEW Packages AS SELECT 1 AS hnum, x'00' AS blob")
    connection.commit()
    connection.close()

    inventory = read_one(
        file("var/lib/rpm/rpmdb.sqlite", path.read_bytes()),
        file("usr/lib/sysimage/rpm/rpmdb.sqlite", b"SQLite format 3\x00" + bytes(100)),
    )

    assert inventory.packages == []
    assert len(inventory.warnings) == 2
    assert any(
        "rpm database query failed: no Packages table" in w for w in inventory.warnings
    )
    assert any("usr/lib/sysimage/rpm/rpmdb.sqlite: " in w for w in inventory.warnings)


def test_rpm_berkeley_database_is_reported() -> None:
    inventory = read_one(file("var/lib/rpm/Packages", bytes(4096)))

    [warning] = inventory.warnings
    assert "rpm databases in Berkeley DB or ndb format are not supported" in warning


def test_python_egg_info_file_and_malformed_metadata() -> None:
    site = "usr/lib/python3.11/site-packages"
    inventory = read_one(
        file(
            f"{site}/simplejson-3.19.1.egg-info",
            "Metadata-Version: 1.1\nName: simplejson\nVersion: 3.19.1\nLicense: MIT\n",
        ),
        file(
            f"{site}/broken-1.0.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: broken\n",
        ),
        file(
            f"{site}/Zope.Interface-6.0.dist-info/METADATA",
            "Name: Zope.Interface\nVersion: 6.0\n",
        ),
    )

    zope, simplejson = inventory.packages
    assert (simplejson.name, simplejson.version, simplejson.licenses) == (
        "simplejson",
        "3.19.1",
        ("MIT",),
    )
    assert zope.purl == "pkg:pypi/zope-interface@6.0"
    [warning] = inventory.warnings
    assert warning.endswith("METADATA: core metadata has no Name or Version; skipped")


def test_npm_lockfile_versions_and_dedupe() -> None:
    lock_v1 = {
        "lockfileVersion": 1,
        "dependencies": {
            "express": {
                "version": "4.17.1",
                "dependencies": {"qs": {"version": "6.7.0"}},
            },
            "local": {"version": "file:../local"},
        },
    }
    lock_v3 = {
        "lockfileVersion": 3,
        "packages": {
            "": {"name": "web"},
            "node_modules/@babel/core": {"version": "7.23.0", "license": "MIT"},
            "node_modules/semver": {"version": "7.5.4"},
            "node_modules/workspace-link": {"link": True, "resolved": "packages/a"},
        },
    }
    inventory = read_one(
        file("srv/api/package-lock.json", json.dumps(lock_v1)),
        file("srv/web/package-lock.json", json.dumps(lock_v3)),
        file(
            "srv/web/node_modules/semver/package.json",
            json.dumps({"name": "semver", "version": "7.5.4"}),
        ),
        file(
            "srv/web/node_modules/@babel/core/package.json",
            json.dumps({"name": "@babel/core", "version": "7.23.0"}),
        ),
        file("srv/web/node_modules/broken/package.json", "{not json"),
    )

    rows = sorted((p.name, p.version, p.location) for p in inventory.packages)
    assert rows == [
        ("@babel/core", "7.23.0", "srv/web/node_modules/@babel/core/package.json"),
        ("express", "4.17.1", "srv/api/package-lock.json"),
        ("qs", "6.7.0", "srv/api/package-lock.json"),
        ("semver", "7.5.4", "srv/web/node_modules/semver/package.json"),
    ]
    babel = next(p for p in inventory.packages if p.name == "@babel/core")
    assert babel.purl == "pkg:npm/%40babel/core@7.23.0"
    [warning] = inventory.warnings
    assert "srv/web/node_modules/broken/package.json: invalid package.json: " in warning


def test_npm_deeply_nested_json_warns() -> None:
    inventory = read_one(
        file("app/node_modules/deep/package.json", "[" * 100_000 + "]" * 100_000)
    )

    [warning] = inventory.warnings
    assert warning.endswith("invalid package.json: JSON nested too deeply")


MODINFO = (
    "path\texample.com/app/cmd/server\n"
    "mod\texample.com/app\t(devel)\t\n"
    "dep\tgithub.com/gorilla/mux\tv1.8.0\th1:abc=\n"
    "dep\tgolang.org/x/net\tv0.7.0\th1:def=\n"
    "=>\tgolang.org/x/net\tv0.17.0\th1:ghi=\n"
    "dep\texample.com/internal/lib\tv1.0.0\th1:jkl=\n"
    "=>\t../lib\t\t\n"
    "build\t-compiler=gc\n"
)


def test_go_binary_modules() -> None:
    binary = go_binary("go1.21.3", MODINFO)
    inventory = read_one(file("usr/local/bin/server", binary, mode=0o755))

    rows = [(p.name, p.version, p.purl) for p in inventory.packages]
    assert rows == [
        ("github.com/gorilla/mux", "1.8.0", "pkg:golang/github.com/gorilla/mux@v1.8.0"),
        ("golang.org/x/net", "0.17.0", "pkg:golang/golang.org/x/net@v0.17.0"),
        ("stdlib", "1.21.3", "pkg:golang/stdlib@1.21.3"),
    ]
    assert {p.ecosystem for p in inventory.packages} == {"Go"}
    assert {p.location for p in inventory.packages} == {"usr/local/bin/server"}
    assert inventory.warnings == []


def test_go_binary_needs_exec_bit_and_new_layout() -> None:
    inventory = read_one(
        file("opt/not-executable", go_binary("go1.21.3", MODINFO), mode=0o644),
        file("opt/old", go_binary("go1.16", MODINFO, flags=0x0), mode=0o755),
    )

    assert inventory.packages == []
    [warning] = inventory.warnings
    assert warning.endswith(
        "opt/old: pointer-format build information (Go before 1.18) is not supported; "
        "modules not listed"
    )


AUDIT_JSON = {
    "packages": [
        {"name": "app", "version": "0.1.0", "source": "local", "root": True},
        {"name": "serde", "version": "1.0.190", "source": "crates.io"},
        {"name": "rand", "version": "0.8.5", "source": "crates.io", "kind": "build"},
        {"name": "forked", "version": "0.1.0", "source": "git"},
    ]
}


@pytest.mark.parametrize(
    ("is_64", "little"), [(True, True), (True, False), (False, True), (False, False)]
)
def test_rust_audit_section(is_64: bool, little: bool) -> None:
    section = zlib.compress(json.dumps(AUDIT_JSON).encode())
    binary = elf_with_section(".dep-v0", section, is_64=is_64, little=little)

    inventory = read_one(file("usr/bin/app", binary, mode=0o755))

    assert [(p.name, p.version, p.ecosystem) for p in inventory.packages] == [
        ("rand", "0.8.5", "crates.io"),
        ("serde", "1.0.190", "crates.io"),
    ]
    assert inventory.warnings == []


def test_rust_corrupt_audit_section_warns() -> None:
    binary = elf_with_section(".dep-v0", b"\x78\x9cnot zlib at all")
    truncated = elf_with_section(".dep-v0", b"x")[:-20]

    inventory = read_one(
        file("usr/bin/a", binary, mode=0o755), file("usr/bin/b", truncated, mode=0o755)
    )

    assert inventory.packages == []
    assert sorted(w.split("usr/bin/")[1] for w in inventory.warnings) == [
        "a: invalid .dep-v0 audit data: Error -3 while decompressing data: invalid block type",
        "b: ELF section table not readable: section header table lies outside the file",
    ]


def test_cargo_lock() -> None:
    lock = """
version = 3

[[package]]
name = "app"
version = "0.1.0"

[[package]]
name = "regex"
version = "1.10.2"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "mine"
version = "0.2.0"
source = "git+https://example.com/mine"
"""
    inventory = read_one(
        file("src/app/Cargo.lock", lock), file("src/bad/Cargo.lock", "[[package]\n")
    )

    package = only(inventory)
    assert (package.name, package.version, package.purl) == (
        "regex",
        "1.10.2",
        "pkg:cargo/regex@1.10.2",
    )
    [warning] = inventory.warnings
    assert "src/bad/Cargo.lock: invalid Cargo.lock: " in warning


def _jar(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _pom(group: str, artifact: str, version: str) -> dict[str, bytes]:
    text = f"#Generated by Maven\ngroupId={group}\nartifactId={artifact}\nversion={version}\n"
    return {f"META-INF/maven/{group}/{artifact}/pom.properties": text.encode()}


def test_java_nested_archives_and_manifest_fallback() -> None:
    jackson = _jar(_pom("com.fasterxml.jackson.core", "jackson-databind", "2.13.0"))
    plain = _jar(
        {
            "META-INF/MANIFEST.MF": (
                b"Manifest-Version: 1.0\r\n"
                b"Implementation-Title: plain-lib\r\n"
                b"Implementation-Version: 3.1\r\n"
                b"Implementation-Vendor-Id: org.example\r\n"
            )
        }
    )
    war = _jar(
        {
            "WEB-INF/lib/jackson-databind-2.13.0.jar": jackson,
            "WEB-INF/lib/plain.jar": plain,
            **_pom("org.example", "shop", "1.0.0"),
        }
    )

    inventory = read_one(file("opt/app/shop.war", war))

    rows = sorted((p.name, p.version, p.location) for p in inventory.packages)
    assert rows == [
        (
            "com.fasterxml.jackson.core:jackson-databind",
            "2.13.0",
            "opt/app/shop.war!WEB-INF/lib/jackson-databind-2.13.0.jar!META-INF/maven/com.fasterxml.jackson.core/jackson-databind/pom.properties",
        ),
        (
            "org.example:plain-lib",
            "3.1",
            "opt/app/shop.war!WEB-INF/lib/plain.jar!META-INF/MANIFEST.MF",
        ),
        (
            "org.example:shop",
            "1.0.0",
            "opt/app/shop.war!META-INF/maven/org.example/shop/pom.properties",
        ),
    ]
    assert inventory.warnings == []


def test_java_malformed_and_hostile_archives() -> None:
    bad_pom = {"META-INF/maven/g/a/pom.properties": b"groupId=g\nartifactId=a\n"}
    nested = _jar(_pom("g", "deep", "1"))
    for _ in range(5):
        nested = _jar({"lib/inner.jar": nested})

    inventory = read_one(
        file("app/bad.jar", _jar(bad_pom)),
        file("app/not-a-zip.jar", b"PK\x03\x04 truncated"),
        file("app/deep.jar", nested),
    )

    assert inventory.packages == []
    messages = sorted(w.split(": ", 1)[1] for w in inventory.warnings)
    assert messages == [
        "app/bad.jar: app/bad.jar!META-INF/maven/g/a/pom.properties: "
        "pom.properties lacks groupId, artifactId or version; skipped",
        "app/deep.jar: app/deep.jar" + "!lib/inner.jar" * 4 + ": "
        "nested deeper than 4 archives; skipped",
        "app/not-a-zip.jar: app/not-a-zip.jar: not a readable zip archive: File is not a zip file",
    ]


def test_java_zip_bomb_is_capped() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open(
            "META-INF/maven/g/bomb/pom.properties", "w", force_zip64=True
        ) as member:
            chunk = bytes(1024 * 1024)
            for _ in range(64):
                member.write(chunk)
        archive.writestr("lib/inner.jar", _jar(_pom("g", "inner", "2.0")))

    inventory = read_inventory(
        "sha256:m", [layer(file("app/bomb.jar", buffer.getvalue()))]
    )

    assert [(p.name, p.version) for p in inventory.packages] == [("g:inner", "2.0")]
    [warning] = inventory.warnings
    assert warning.endswith(
        "app/bomb.jar!META-INF/maven/g/bomb/pom.properties: "
        "67108864 bytes pass the cap of 1048576; skipped"
    )


def test_java_read_budget_is_shared_by_nested_archives() -> None:
    filler = {
        f"META-INF/maven/g/a{index}/pom.properties": bytes(600 * 1024)
        for index in range(2)
    }
    limits = Limits(max_archive_read_bytes=1024 * 1024)

    inventory = read_inventory_with_limits(
        "sha256:m", [layer(file("app/big.jar", _jar(filler)))], limits
    )

    first, second = inventory.warnings
    assert first.endswith(
        "pom.properties lacks groupId, artifactId or version; skipped"
    )
    assert second.endswith(
        "app/big.jar!META-INF/maven/g/a1/pom.properties: the archive's read budget of "
        "1048576 bytes is spent; skipped"
    )


def test_ruby_gemspec() -> None:
    spec = (
        "# -*- encoding: utf-8 -*-\n"
        "Gem::Specification.new do |s|\n"
        '  s.name = "rack".freeze\n'
        '  s.version = "2.2.3"\n'
        '  s.licenses = ["MIT".freeze]\n'
        "end\n"
    )
    inventory = read_one(
        file("usr/local/bundle/specifications/rack-2.2.3.gemspec", spec),
        file("usr/local/bundle/specifications/empty-1.gemspec", "# nothing here\n"),
    )

    package = only(inventory)
    assert (package.name, package.version, package.ecosystem) == (
        "rack",
        "2.2.3",
        "RubyGems",
    )
    assert package.licenses == ("MIT",)
    assert package.purl == "pkg:gem/rack@2.2.3"
    [warning] = inventory.warnings
    assert warning.endswith(
        "empty-1.gemspec: gemspec has no name or version assignment; skipped"
    )


def test_composer_files() -> None:
    lock = {
        "packages": [
            {"name": "monolog/monolog", "version": "2.9.1", "license": ["MIT"]}
        ],
        "packages-dev": [{"name": "phpunit/phpunit", "version": "v9.6.13"}],
    }
    installed_v2 = {"packages": [{"name": "monolog/monolog", "version": "2.9.1"}]}
    installed_v1 = [{"name": "guzzlehttp/guzzle", "version": "7.8.0"}]

    inventory = read_one(
        file("var/www/composer.lock", json.dumps(lock)),
        file("var/www/vendor/composer/installed.json", json.dumps(installed_v2)),
        file("srv/old/vendor/composer/installed.json", json.dumps(installed_v1)),
        file("srv/broken/composer.lock", "{"),
    )

    rows = sorted((p.name, p.version, p.location) for p in inventory.packages)
    assert rows == [
        ("guzzlehttp/guzzle", "7.8.0", "srv/old/vendor/composer/installed.json"),
        ("monolog/monolog", "2.9.1", "var/www/vendor/composer/installed.json"),
        ("phpunit/phpunit", "9.6.13", "var/www/composer.lock"),
    ]
    assert {p.ecosystem for p in inventory.packages} == {"Packagist"}
    phpunit = next(p for p in inventory.packages if p.name == "phpunit/phpunit")
    assert phpunit.purl == "pkg:composer/phpunit/phpunit@9.6.13"
    [warning] = inventory.warnings
    assert "srv/broken/composer.lock: invalid composer.lock: " in warning
