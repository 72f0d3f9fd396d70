"""Harbor-compatible `/api/v2.0` routes for the artifacts and tags of a repository.

A `reference` in a path is a tag or a digest. `with_scan_overview` and
`with_sbom_overview` add the stored scan and SBOM state, and
`with_accessory` the accessories (`api.accessories`). Features that
Seawall does not have yet (labels, signatures, immutable tags) accept
their `with_*` flags and return no data for them, as
`docs/api-coverage.md` lists. Artifact copy is in `api.artifact_copy`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

import structlog
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from seawall.api.accessories import Accessory, accessories_by_subject
from seawall.api.audit import audit_context
from seawall.api.deps import ProjectAccess, registry_of
from seawall.api.errors import bad_request, conflict, not_found
from seawall.api.pagination import page_of, set_page_headers
from seawall.api.query import Term, parse_query
from seawall.api.repositories import (
    REPOSITORY_PATH,
    audit_fields,
    refiner,
    repository_name_of,
    require,
)
from seawall.audit import AuditOperation, record
from seawall.policy import Action, Resource
from seawall.registry import artifacts
from seawall.registry.accessories import Subject
from seawall.registry.artifact_details import ArtifactInfo, TagInfo
from seawall.registry.media_types import IMAGE_MANIFESTS
from seawall.scan.overview import accepted_report_mimes, overviews_for
from seawall.scan.sbom_service import sbom_overviews

logger = structlog.get_logger(__name__)

router = APIRouter()

ARTIFACT_PATH = f"{REPOSITORY_PATH}/artifacts/{{reference}}"

ListArtifacts = Annotated[ProjectAccess, require(Resource.ARTIFACT, Action.LIST)]
ReadArtifact = Annotated[ProjectAccess, require(Resource.ARTIFACT, Action.READ)]
DeleteArtifact = Annotated[ProjectAccess, require(Resource.ARTIFACT, Action.DELETE)]
ListTags = Annotated[ProjectAccess, require(Resource.TAG, Action.LIST)]
CreateTag = Annotated[ProjectAccess, require(Resource.TAG, Action.CREATE)]
DeleteTag = Annotated[ProjectAccess, require(Resource.TAG, Action.DELETE)]


class Tag(BaseModel):
    id: int
    repository_id: int
    artifact_id: int
    name: str
    push_time: datetime
    pull_time: datetime | None = None
    immutable: bool = Field(
        False, description="Always false: no immutability rules yet"
    )


class TagCreate(BaseModel):
    name: str


class Platform(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    architecture: str | None = None
    os: str | None = None
    os_version: str | None = Field(None, alias="os.version")
    os_features: list[str] | None = Field(None, alias="os.features")
    variant: str | None = None


class Reference(BaseModel):
    """A child manifest of an image index."""

    parent_id: int
    child_id: int | None = None
    child_digest: str
    platform: Platform | None = None
    annotations: dict[str, str] | None = None
    urls: list[str] | None = None


class AdditionLink(BaseModel):
    href: str
    absolute: bool = False


class Artifact(BaseModel):
    id: int
    type: str = Field(description='"IMAGE", "CHART", "CNAB", another type or "UNKNOWN"')
    media_type: str = Field(description="The config media type, or an index's own")
    manifest_media_type: str
    artifact_type: str
    project_id: int
    repository_id: int
    repository_name: str
    digest: str
    size: int = Field(
        description="Manifest, config and layers; an index adds its children"
    )
    push_time: datetime
    pull_time: datetime | None = None
    extra_attrs: dict[str, Any] | None = None
    annotations: dict[str, str] | None = None
    references: list[Reference] | None = None
    tags: list[Tag] | None = None
    addition_links: dict[str, AdditionLink] | None = None
    labels: list[dict[str, Any]] | None = None
    scan_overview: dict[str, Any] | None = None
    sbom_overview: dict[str, Any] | None = None
    accessories: list[Accessory] | None = None


def _tag_model(info: TagInfo) -> Tag:
    return Tag(
        id=info.id,
        repository_id=info.repository_id,
        artifact_id=info.artifact_id,
        name=info.name,
        push_time=info.push_time,
        pull_time=info.pull_time,
    )


def _artifact_model(
    info: ArtifactInfo,
    overviews: Overviews | None = None,
    accessories: dict[str, list[Accessory]] | None = None,
) -> Artifact:
    references = [
        Reference(
            parent_id=ref.parent_id,
            child_id=ref.child_id,
            child_digest=ref.child_digest,
            platform=Platform.model_validate(ref.platform) if ref.platform else None,
            annotations=ref.annotations,
            urls=ref.urls,
        )
        for ref in info.references
    ]
    return Artifact(
        id=info.id,
        type=info.type,
        media_type=info.media_type,
        manifest_media_type=info.manifest_media_type,
        artifact_type=info.artifact_type,
        project_id=info.project_id,
        repository_id=info.repository_id,
        repository_name=info.repository_name,
        digest=info.digest,
        size=info.size,
        push_time=info.push_time,
        pull_time=info.pull_time,
        extra_attrs=info.extra_attrs,
        annotations=info.annotations,
        references=references or None,
        tags=[_tag_model(tag) for tag in info.tags] or None,
        addition_links=_addition_links(info),
        scan_overview=overviews.scan.get(info.digest) if overviews else None,
        sbom_overview=overviews.sbom.get(info.digest) if overviews else None,
        accessories=(accessories or {}).get(info.digest) or None,
    )


def _addition_links(info: ArtifactInfo) -> dict[str, AdditionLink] | None:
    # An index has no config, so no build history; its vulnerabilities are
    # its images' and are read by their digests.
    if info.type != "IMAGE" or info.manifest_media_type not in IMAGE_MANIFESTS:
        return None
    repository = quote(quote(info.repository_name.partition("/")[2], safe=""), safe="")
    project = info.repository_name.partition("/")[0]
    base = (
        f"/api/v2.0/projects/{project}/repositories/{repository}"
        f"/artifacts/{info.digest}/additions"
    )
    return {
        "build_history": AdditionLink(href=f"{base}/build_history"),
        "vulnerabilities": AdditionLink(href=f"{base}/vulnerabilities"),
    }


# Accessories by subject digest, when `with_accessory` is true.
Found = dict[str, list[Accessory]] | None


def _subjects(infos: list[ArtifactInfo]) -> list[Subject]:
    return [Subject(info.id, info.digest) for info in infos]


@dataclass(frozen=True, slots=True)
class Overviews:
    scan: dict[str, dict[str, Any]]
    sbom: dict[str, dict[str, Any]]


def _overviews(
    session: Session,
    project_id: int,
    infos: list[ArtifactInfo],
    request: Request,
    *,
    with_scan: bool,
    with_sbom: bool,
) -> Overviews | None:
    if not (with_scan or with_sbom) or not infos:
        return None
    triples = [
        (
            info.digest,
            info.manifest_media_type,
            [ref.child_digest for ref in info.references],
        )
        for info in infos
    ]
    scan: dict[str, dict[str, Any]] = {}
    sbom: dict[str, dict[str, Any]] = {}
    if with_scan:
        mimes = accepted_report_mimes(request.headers.get("x-accept-vulnerabilities"))
        scan = overviews_for(session, project_id, triples, mimes)
    if with_sbom:
        sbom = sbom_overviews(
            session, infos[0].repository_id, [info.digest for info in infos]
        )
    return Overviews(scan, sbom)


def _take_filters(terms: list[Term]) -> tuple[artifacts.TagFilter | None, bool]:
    """Remove the `tags` and `labels` terms from `terms`.

    Returns the tag filter and whether a label filter was given. No
    artifact has labels yet, so a label filter matches nothing.
    """
    tag_filter = None
    labelled = False
    for term in list(terms):
        if term.key == "labels":
            labelled = True
        elif term.key == "tags":
            tag_filter = _tag_filter(term)
        else:
            continue
        terms.remove(term)
    return tag_filter, labelled


def _tag_filter(term: Term) -> artifacts.TagFilter:
    value = term.values[0] if term.values else ""
    if term.kind == "fuzzy":
        return artifacts.TagFilter("fuzzy", value)
    if term.kind != "exact":
        raise bad_request("use tags=*, tags=nil, tags=NAME or tags=~TEXT")
    if value == "*":
        return artifacts.TagFilter("tagged")
    if value == "nil":
        return artifacts.TagFilter("untagged")
    return artifacts.TagFilter("exact", value)


@router.get(
    f"{REPOSITORY_PATH}/artifacts",
    response_model=list[Artifact],
    response_model_exclude_none=True,
)
async def list_artifacts(
    request: Request,
    access: ListArtifacts,
    response: Response,
    repository_name: str,
    q: str | None = None,
    sort: str | None = None,
    with_tag: bool = True,
    with_label: bool = False,
    with_scan_overview: bool = False,
    with_sbom_overview: bool = False,
    with_signature: bool = False,
    with_immutable_status: bool = False,
    with_accessory: bool = False,
) -> list[Artifact]:
    """List the artifacts of a repository, newest push first.

    Besides the artifact keys, `q` accepts Harbor's `tags=*` (tagged),
    `tags=nil` (untagged), `tags=NAME` and `tags=~TEXT`. Children of an
    image index are listed only when tagged, as in Harbor.
    """
    registry = registry_of(request)
    page = page_of(request)
    name = repository_name_of(access, repository_name)
    terms = parse_query(q)
    tag_filter, labelled = _take_filters(terms)
    refine = refiner(terms, sort, artifacts.ARTIFACT_KEYS, artifacts.ARTIFACT_ORDER)

    def load() -> tuple[artifacts.ResultPage[ArtifactInfo], Overviews | None, Found]:
        with registry.db.session(read_only=True) as session:
            repository = artifacts.require_repository_in(
                session, access.project.project_id, name
            )
            if labelled:
                return artifacts.ResultPage([], 0), None, None
            result = artifacts.list_artifacts(
                session,
                registry.store,
                repository,
                tag_filter=tag_filter,
                with_tags=with_tag,
                refine=refine,
                offset=page.offset,
                limit=page.size,
            )
            overviews = _overviews(
                session,
                access.project.project_id,
                result.items,
                request,
                with_scan=with_scan_overview,
                with_sbom=with_sbom_overview,
            )
            found = None
            if with_accessory:
                found = accessories_by_subject(
                    session, registry.store, repository, _subjects(result.items)
                )
            return result, overviews, found

    result, overviews, found = await run_in_threadpool(load)
    set_page_headers(request, response, page, result.total)
    return [_artifact_model(info, overviews, found) for info in result.items]


@router.get(ARTIFACT_PATH, response_model=Artifact, response_model_exclude_none=True)
async def get_artifact(
    request: Request,
    access: ReadArtifact,
    repository_name: str,
    reference: str,
    with_tag: bool = True,
    with_label: bool = False,
    with_scan_overview: bool = False,
    with_sbom_overview: bool = False,
    with_signature: bool = False,
    with_immutable_status: bool = False,
    with_accessory: bool = False,
) -> Artifact:
    """Return the artifact a tag or digest names."""
    registry = registry_of(request)
    name = repository_name_of(access, repository_name)

    def load() -> Artifact:
        with registry.db.session(read_only=True) as session:
            repository = artifacts.require_repository_in(
                session, access.project.project_id, name
            )
            info = artifacts.get_artifact(
                session, registry.store, repository, reference, with_tag
            )
            overviews = _overviews(
                session,
                access.project.project_id,
                [info],
                request,
                with_scan=with_scan_overview,
                with_sbom=with_sbom_overview,
            )
            found = None
            if with_accessory:
                found = accessories_by_subject(
                    session, registry.store, repository, _subjects([info])
                )
            return _artifact_model(info, overviews, found)

    return await run_in_threadpool(load)


@router.delete(ARTIFACT_PATH, response_class=Response)
async def delete_artifact(
    request: Request, access: DeleteArtifact, repository_name: str, reference: str
) -> Response:
    """Delete an artifact by tag or digest, with all its tags and accessories.

    Responds 412 while an image index in the repository lists it. Children
    of a deleted index go with it unless tagged or listed by another index.
    """
    registry = registry_of(request)
    name = repository_name_of(access, repository_name)
    context = audit_context(request, access.principal)

    def remove() -> list[str]:
        with registry.db.session() as session:
            repository = artifacts.require_repository_in(
                session, access.project.project_id, name
            )
            digests = artifacts.delete_artifact(session, repository, reference)
            for digest in digests:
                record(
                    session,
                    **context,
                    operation=AuditOperation.DELETE,
                    resource_type="artifact",
                    resource=f"{name}@{digest}",
                )
            return digests

    digests = await run_in_threadpool(remove)
    registry.metadata_changed()
    logger.info("artifact deleted", repository=name, digests=digests)
    return Response(status_code=200)


@router.get(
    f"{ARTIFACT_PATH}/tags",
    response_model=list[Tag],
    response_model_exclude_none=True,
)
async def list_tags(
    request: Request,
    access: ListTags,
    response: Response,
    repository_name: str,
    reference: str,
    q: str | None = None,
    sort: str | None = None,
    with_signature: bool = False,
    with_immutable_status: bool = False,
) -> list[Tag]:
    """List the tags of one artifact, newest first."""
    registry = registry_of(request)
    page = page_of(request)
    name = repository_name_of(access, repository_name)
    refine = refiner(parse_query(q), sort, artifacts.TAG_KEYS, artifacts.TAG_ORDER)

    def load() -> artifacts.ResultPage[TagInfo]:
        with registry.db.session(read_only=True) as session:
            repository = artifacts.require_repository_in(
                session, access.project.project_id, name
            )
            artifact = artifacts.resolve_artifact(session, repository, reference)
            return artifacts.list_tags(
                session, artifact, refine=refine, offset=page.offset, limit=page.size
            )

    result = await run_in_threadpool(load)
    set_page_headers(request, response, page, result.total)
    return [_tag_model(info) for info in result.items]


@router.post(f"{ARTIFACT_PATH}/tags", status_code=201, response_class=Response)
async def create_tag(
    request: Request,
    access: CreateTag,
    repository_name: str,
    reference: str,
    body: TagCreate,
) -> Response:
    """Add a tag to an artifact, or respond 409 if the repository already has it."""
    registry = registry_of(request)
    name = repository_name_of(access, repository_name)
    audit = audit_fields(
        request, access.principal, AuditOperation.CREATE, "tag", f"{name}:{body.name}"
    )

    def create() -> None:
        with registry.db.session() as session:
            repository = artifacts.require_repository_in(
                session, access.project.project_id, name
            )
            artifact = artifacts.resolve_artifact(session, repository, reference)
            artifacts.create_tag(session, repository, artifact, body.name)
            record(session, **audit)

    try:
        await run_in_threadpool(create)
    except artifacts.TagExists as exc:
        raise conflict(exc.message) from exc
    registry.metadata_changed()
    return Response(status_code=201)


@router.delete(f"{ARTIFACT_PATH}/tags/{{tag_name}}", response_class=Response)
async def delete_tag(
    request: Request,
    access: DeleteTag,
    repository_name: str,
    reference: str,
    tag_name: str,
) -> Response:
    """Remove a tag from the artifact that `reference` names."""
    registry = registry_of(request)
    name = repository_name_of(access, repository_name)
    audit = audit_fields(
        request, access.principal, AuditOperation.DELETE, "tag", f"{name}:{tag_name}"
    )

    def remove() -> None:
        with registry.db.session() as session:
            repository = artifacts.require_repository_in(
                session, access.project.project_id, name
            )
            artifact = artifacts.resolve_artifact(session, repository, reference)
            artifacts.delete_tag(session, artifact, tag_name)
            record(session, **audit)

    try:
        await run_in_threadpool(remove)
    except artifacts.TagNotFound as exc:
        raise not_found(exc.message) from exc
    registry.metadata_changed()
    return Response(status_code=200)
