"""Manifest validation before storage: media types, descriptors and references."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from seawall.registry import media_types
from seawall.registry.errors import ManifestInvalid
from seawall.registry.manifest_parser import (
    Descriptor,
    ParsedManifest,
    parse_manifest,
)
from seawall.storage import Digest, parse_digest

OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
OCI_NONDISTRIBUTABLE_LAYER = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
SBOM_TYPE = "application/spdx+json"

Json = dict[str, Any]


def digest_of(label: str) -> str:
    return f"sha256:{hashlib.sha256(label.encode()).hexdigest()}"


def descriptor(media_type: str, label: str, size: int = 100, **extra: Any) -> Json:
    return {"mediaType": media_type, "digest": digest_of(label), "size": size, **extra}


def oci_manifest(**fields: Any) -> Json:
    document: Json = {
        "schemaVersion": 2,
        "mediaType": media_types.OCI_MANIFEST,
        "config": descriptor(media_types.OCI_IMAGE_CONFIG, "config"),
        "layers": [descriptor(OCI_LAYER, "layer-1"), descriptor(OCI_LAYER, "layer-2")],
    }
    document.update(fields)
    return document


def oci_index(**fields: Any) -> Json:
    document: Json = {
        "schemaVersion": 2,
        "mediaType": media_types.OCI_INDEX,
        "manifests": [
            descriptor(media_types.OCI_MANIFEST, "amd64", platform={"os": "linux"}),
            descriptor(media_types.OCI_MANIFEST, "arm64"),
        ],
    }
    document.update(fields)
    return document


def docker_manifest(**fields: Any) -> Json:
    document: Json = {
        "schemaVersion": 2,
        "mediaType": media_types.DOCKER_MANIFEST,
        "config": descriptor(media_types.DOCKER_IMAGE_CONFIG, "config"),
        "layers": [descriptor(DOCKER_LAYER, "layer-1")],
    }
    document.update(fields)
    return document


def docker_manifest_list(**fields: Any) -> Json:
    document: Json = {
        "schemaVersion": 2,
        "mediaType": media_types.DOCKER_MANIFEST_LIST,
        "manifests": [descriptor(media_types.DOCKER_MANIFEST, "amd64")],
    }
    document.update(fields)
    return document


def encode(document: object) -> bytes:
    return json.dumps(document).encode()


def parse(document: Json, content_type: str | None = None) -> ParsedManifest:
    """Parse `document` with `content_type`, which defaults to its own mediaType."""
    header = content_type if content_type is not None else document.get("mediaType")
    return parse_manifest(encode(document), header)


def expect_invalid(body: bytes, content_type: str | None, match: str) -> None:
    with pytest.raises(ManifestInvalid, match=match):
        parse_manifest(body, content_type)


def digests(items: list[Descriptor]) -> list[str]:
    return [str(item.digest) for item in items]


# Image manifests


def test_oci_manifest_media_type() -> None:
    assert parse(oci_manifest()).media_type == media_types.OCI_MANIFEST


def test_oci_manifest_blobs_are_config_then_layers() -> None:
    parsed = parse(oci_manifest())
    expected = [digest_of("config"), digest_of("layer-1"), digest_of("layer-2")]
    assert digests(parsed.blobs) == expected


def test_oci_manifest_has_no_children() -> None:
    assert parse(oci_manifest()).children == []


def test_descriptor_fields_parsed() -> None:
    config = parse(oci_manifest()).blobs[0]
    assert config == Descriptor(
        media_types.OCI_IMAGE_CONFIG, parse_digest(digest_of("config")), 100
    )


def test_manifest_without_layers_accepted() -> None:
    document = oci_manifest()
    del document["layers"]
    assert digests(parse(document).blobs) == [digest_of("config")]


def test_docker_manifest_media_type() -> None:
    assert parse(docker_manifest()).media_type == media_types.DOCKER_MANIFEST


def test_docker_manifest_blobs() -> None:
    parsed = parse(docker_manifest())
    assert digests(parsed.blobs) == [digest_of("config"), digest_of("layer-1")]


def test_media_type_from_header_when_field_absent() -> None:
    document = oci_manifest()
    del document["mediaType"]
    parsed = parse(document, media_types.OCI_MANIFEST)
    assert parsed.media_type == media_types.OCI_MANIFEST


def test_media_type_from_field_when_header_absent() -> None:
    parsed = parse_manifest(encode(docker_manifest()), None)
    assert parsed.media_type == media_types.DOCKER_MANIFEST


def test_header_parameters_ignored() -> None:
    parsed = parse(oci_manifest(), f"{media_types.OCI_MANIFEST}; charset=utf-8")
    assert parsed.media_type == media_types.OCI_MANIFEST


def test_missing_media_type_invalid() -> None:
    document = oci_manifest()
    del document["mediaType"]
    expect_invalid(encode(document), None, "media type missing")


def test_unknown_media_type_invalid() -> None:
    document = oci_manifest(mediaType="application/vnd.example+json")
    expect_invalid(encode(document), None, "not supported")


def test_non_string_media_type_invalid() -> None:
    expect_invalid(
        encode(oci_manifest(mediaType=2)), None, "mediaType must be a string"
    )


def test_missing_config_invalid() -> None:
    document = oci_manifest()
    del document["config"]
    expect_invalid(encode(document), media_types.OCI_MANIFEST, "config")


def test_null_config_invalid() -> None:
    document = oci_manifest(config=None)
    expect_invalid(encode(document), media_types.OCI_MANIFEST, "config")


def test_layers_not_list_invalid() -> None:
    document = oci_manifest(layers={"0": descriptor(OCI_LAYER, "layer")})
    expect_invalid(encode(document), media_types.OCI_MANIFEST, "layers must be a list")


def test_image_with_manifests_field_invalid() -> None:
    document = oci_manifest(manifests=[])
    expect_invalid(encode(document), media_types.OCI_MANIFEST, "manifests")


# Image indexes


def test_oci_index_media_type() -> None:
    assert parse(oci_index()).media_type == media_types.OCI_INDEX


def test_oci_index_children() -> None:
    parsed = parse(oci_index())
    assert digests(parsed.children) == [digest_of("amd64"), digest_of("arm64")]


def test_oci_index_has_no_blobs() -> None:
    assert parse(oci_index()).blobs == []


def test_docker_manifest_list_media_type() -> None:
    parsed = parse(docker_manifest_list())
    assert parsed.media_type == media_types.DOCKER_MANIFEST_LIST


def test_docker_manifest_list_children() -> None:
    parsed = parse(docker_manifest_list())
    assert digests(parsed.children) == [digest_of("amd64")]


def test_empty_index_accepted() -> None:
    assert parse(oci_index(manifests=[])).children == []


def test_index_without_manifests_invalid() -> None:
    document = oci_index()
    del document["manifests"]
    expect_invalid(encode(document), media_types.OCI_INDEX, "manifests must be a list")


def test_index_with_layers_invalid() -> None:
    document = oci_index(layers=[descriptor(OCI_LAYER, "layer")])
    expect_invalid(encode(document), media_types.OCI_INDEX, "config or layers")


def test_index_with_config_invalid() -> None:
    document = oci_index(config=descriptor(media_types.OCI_IMAGE_CONFIG, "config"))
    expect_invalid(encode(document), media_types.OCI_INDEX, "config or layers")


# Schema versions


def test_schema1_field_rejected() -> None:
    document = {
        "schemaVersion": 1,
        "name": "library/alpine",
        "tag": "latest",
        "fsLayers": [{"blobSum": digest_of("layer")}],
    }
    expect_invalid(encode(document), None, "schema 1")


@pytest.mark.parametrize("content_type", sorted(media_types.DOCKER_SCHEMA1))
def test_schema1_content_type_rejected(content_type: str) -> None:
    expect_invalid(encode(docker_manifest()), content_type, "schema 1")


@pytest.mark.parametrize("version", [None, 3, "2", 0])
def test_schema_version_must_be_2(version: object) -> None:
    document = oci_manifest(schemaVersion=version)
    expect_invalid(encode(document), media_types.OCI_MANIFEST, "schemaVersion")


def test_missing_schema_version_invalid() -> None:
    document = oci_manifest()
    del document["schemaVersion"]
    expect_invalid(encode(document), media_types.OCI_MANIFEST, "schemaVersion")


# Content-Type against mediaType


@pytest.mark.parametrize(
    ("header", "declared"),
    [
        (media_types.OCI_MANIFEST, media_types.DOCKER_MANIFEST),
        (media_types.DOCKER_MANIFEST, media_types.OCI_MANIFEST),
        (media_types.OCI_INDEX, media_types.OCI_MANIFEST),
        (media_types.OCI_MANIFEST, media_types.OCI_INDEX),
        ("application/json", media_types.OCI_MANIFEST),
    ],
)
def test_content_type_mismatch_invalid(header: str, declared: str) -> None:
    document = oci_manifest(mediaType=declared)
    expect_invalid(encode(document), header, "does not match")


def test_index_header_on_image_body_invalid() -> None:
    document = oci_manifest()
    del document["mediaType"]
    expect_invalid(encode(document), media_types.OCI_INDEX, "config or layers")


def test_image_header_on_index_body_invalid() -> None:
    document = oci_index()
    del document["mediaType"]
    expect_invalid(encode(document), media_types.OCI_MANIFEST, "manifests")


# Bodies that are not manifests


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"{",
        b'{"schemaVersion": 2,}',
        b"\xff\xfe{}",
        b"\x80",
    ],
)
def test_non_json_invalid(body: bytes) -> None:
    expect_invalid(body, media_types.OCI_MANIFEST, "not valid JSON")


@pytest.mark.parametrize("body", [b"[]", b"2", b'"manifest"', b"null", b"true"])
def test_non_object_invalid(body: bytes) -> None:
    expect_invalid(body, media_types.OCI_MANIFEST, "JSON object")


# Descriptors


@pytest.mark.parametrize("size", [-1, 1.5, 1.0, "100", None, True, False])
def test_bad_config_size_invalid(size: object) -> None:
    config = descriptor(media_types.OCI_IMAGE_CONFIG, "config", size=0)
    config["size"] = size
    document = oci_manifest(config=config)
    expect_invalid(encode(document), media_types.OCI_MANIFEST, r"config\.size")


def test_bad_layer_size_names_index() -> None:
    layer = descriptor(OCI_LAYER, "layer-2", size=-5)
    document = oci_manifest(layers=[descriptor(OCI_LAYER, "layer-1"), layer])
    expect_invalid(encode(document), media_types.OCI_MANIFEST, r"layers\[1\]\.size")


def test_missing_size_invalid() -> None:
    layer = descriptor(OCI_LAYER, "layer")
    del layer["size"]
    document = oci_manifest(layers=[layer])
    expect_invalid(encode(document), media_types.OCI_MANIFEST, r"layers\[0\]\.size")


def test_zero_size_accepted() -> None:
    config = descriptor(OCI_EMPTY, "empty", size=0)
    assert parse(oci_manifest(config=config)).blobs[0].size == 0


@pytest.mark.parametrize(
    "digest",
    [
        "sha256:../../etc",
        "sha256:" + "A" * 64,
        "sha256:abc",
        "not-a-digest",
        "",
    ],
)
def test_bad_layer_digest_invalid(digest: str) -> None:
    layer = descriptor(OCI_LAYER, "layer")
    layer["digest"] = digest
    document = oci_manifest(layers=[layer])
    expect_invalid(encode(document), media_types.OCI_MANIFEST, r"layers\[0\]\.digest")


def test_unsupported_digest_algorithm_invalid() -> None:
    layer = descriptor(OCI_LAYER, "layer")
    layer["digest"] = "md5:" + "a" * 32
    document = oci_manifest(layers=[layer])
    expect_invalid(encode(document), media_types.OCI_MANIFEST, "not supported")


def test_missing_digest_invalid() -> None:
    child = descriptor(media_types.OCI_MANIFEST, "child")
    del child["digest"]
    document = oci_index(manifests=[child])
    expect_invalid(encode(document), media_types.OCI_INDEX, r"manifests\[0\]\.digest")


def test_missing_descriptor_media_type_invalid() -> None:
    layer = descriptor(OCI_LAYER, "layer")
    del layer["mediaType"]
    document = oci_manifest(layers=[layer])
    expect_invalid(encode(document), media_types.OCI_MANIFEST, "mediaType is missing")


def test_empty_descriptor_media_type_invalid() -> None:
    layer = descriptor("", "layer")
    document = oci_manifest(layers=[layer])
    expect_invalid(encode(document), media_types.OCI_MANIFEST, "mediaType is missing")


@pytest.mark.parametrize("layer", ["sha256:abc", 5, None, []])
def test_non_object_descriptor_invalid(layer: object) -> None:
    document = oci_manifest(layers=[layer])
    expect_invalid(encode(document), media_types.OCI_MANIFEST, "descriptor object")


def test_sha512_descriptor_accepted() -> None:
    layer = descriptor(OCI_LAYER, "layer")
    layer["digest"] = "sha512:" + hashlib.sha512(b"layer").hexdigest()
    parsed = parse(oci_manifest(layers=[layer]))
    assert parsed.blobs[1].digest == Digest("sha512", layer["digest"][7:])


# Foreign layers


@pytest.mark.parametrize(
    "media_type", [DOCKER_FOREIGN_LAYER, OCI_NONDISTRIBUTABLE_LAYER]
)
def test_foreign_layer_excluded_from_blobs(media_type: str) -> None:
    foreign = descriptor(
        media_type, "foreign", urls=["https://example.invalid/layer.tar"]
    )
    layers = [descriptor(DOCKER_LAYER, "layer-1"), foreign]
    parsed = parse(docker_manifest(layers=layers))
    assert digests(parsed.blobs) == [digest_of("config"), digest_of("layer-1")]


@pytest.mark.parametrize("media_type", sorted(media_types.FOREIGN_LAYERS))
def test_every_foreign_type_excluded(media_type: str) -> None:
    parsed = parse(oci_manifest(layers=[descriptor(media_type, "foreign")]))
    assert digests(parsed.blobs) == [digest_of("config")]


def test_foreign_layer_still_validated() -> None:
    foreign = descriptor(DOCKER_FOREIGN_LAYER, "foreign")
    foreign["digest"] = "sha256:../../etc"
    document = docker_manifest(layers=[foreign])
    expect_invalid(encode(document), media_types.DOCKER_MANIFEST, "digest")


# Subject


def test_subject_parsed() -> None:
    subject = descriptor(media_types.OCI_MANIFEST, "subject", size=321)
    parsed = parse(oci_manifest(subject=subject))
    assert parsed.subject == Descriptor(
        media_types.OCI_MANIFEST, parse_digest(digest_of("subject")), 321
    )


def test_subject_absent_is_none() -> None:
    assert parse(oci_manifest()).subject is None


def test_index_subject_parsed() -> None:
    subject = descriptor(media_types.OCI_INDEX, "subject")
    parsed = parse(oci_index(subject=subject))
    assert parsed.subject is not None
    assert str(parsed.subject.digest) == digest_of("subject")


def test_subject_not_in_blobs() -> None:
    subject = descriptor(media_types.OCI_MANIFEST, "subject")
    parsed = parse(oci_manifest(subject=subject))
    assert digest_of("subject") not in digests(parsed.blobs)


@pytest.mark.parametrize("subject", [None, "sha256:abc", [], 1])
def test_non_descriptor_subject_invalid(subject: object) -> None:
    document = oci_manifest(subject=subject)
    expect_invalid(encode(document), media_types.OCI_MANIFEST, "subject")


def test_subject_bad_digest_invalid() -> None:
    subject = descriptor(media_types.OCI_MANIFEST, "subject")
    subject["digest"] = "sha256:../../etc"
    document = oci_manifest(subject=subject)
    expect_invalid(encode(document), media_types.OCI_MANIFEST, r"subject\.digest")


def test_subject_bad_size_invalid() -> None:
    subject = descriptor(media_types.OCI_MANIFEST, "subject", size=-1)
    document = oci_manifest(subject=subject)
    expect_invalid(encode(document), media_types.OCI_MANIFEST, r"subject\.size")


# artifactType


def test_artifact_type_from_field() -> None:
    config = descriptor(OCI_EMPTY, "empty", size=2)
    parsed = parse(oci_manifest(config=config, artifactType=SBOM_TYPE))
    assert parsed.artifact_type == SBOM_TYPE


def test_artifact_type_defaults_to_config_type() -> None:
    parsed = parse(oci_manifest())
    assert parsed.artifact_type == media_types.OCI_IMAGE_CONFIG


def test_docker_artifact_type_is_config_type() -> None:
    parsed = parse(docker_manifest())
    assert parsed.artifact_type == media_types.DOCKER_IMAGE_CONFIG


def test_index_artifact_type_from_field() -> None:
    parsed = parse(oci_index(artifactType=SBOM_TYPE))
    assert parsed.artifact_type == SBOM_TYPE


def test_index_artifact_type_absent_is_none() -> None:
    assert parse(oci_index()).artifact_type is None


@pytest.mark.parametrize("artifact_type", [1, ["a/b"], {"type": "a/b"}, True])
def test_non_string_artifact_type_invalid(artifact_type: object) -> None:
    document = oci_manifest(artifactType=artifact_type)
    expect_invalid(encode(document), media_types.OCI_MANIFEST, "artifactType")


@pytest.mark.parametrize("artifact_type", [1, ["a/b"]])
def test_index_non_string_artifact_type_invalid(artifact_type: object) -> None:
    document = oci_index(artifactType=artifact_type)
    expect_invalid(encode(document), media_types.OCI_INDEX, "artifactType")


# Annotations


def test_annotations_parsed() -> None:
    annotations = {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"}
    parsed = parse(oci_manifest(annotations=annotations))
    assert parsed.annotations == annotations


def test_annotations_absent_is_none() -> None:
    assert parse(oci_manifest()).annotations is None


@pytest.mark.parametrize("annotations", [{"key": 1}, {"key": None}, ["a"], "a=b"])
def test_bad_annotations_invalid(annotations: object) -> None:
    document = oci_manifest(annotations=annotations)
    expect_invalid(encode(document), media_types.OCI_MANIFEST, "annotations")
