"""Harbor-compatible `/api/v2.0` route for the accessories of an artifact.

Accessories are derived from the repository's artifacts rather than stored
in a table (see `registry.accessories`), and one artifact has a handful of
them, so `q` and `sort` are applied to the derived list in Python.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from seawall.api.deps import ProjectAccess, registry_of
from seawall.api.errors import bad_request
from seawall.api.pagination import page_of, set_page_headers
from seawall.api.query import Term, parse_query
from seawall.api.repositories import REPOSITORY_PATH, repository_name_of, require
from seawall.db.models import Repository
from seawall.policy import Action, Resource
from seawall.registry import artifacts
from seawall.registry.accessories import AccessoryInfo, Subject, describe_accessories
from seawall.registry.artifact_details import ManifestReader
from seawall.storage import BlobStore

router = APIRouter()

ListAccessories = Annotated[ProjectAccess, require(Resource.ACCESSORY, Action.LIST)]

# Keys of `q` and `sort`. The default order is newest first.
TEXT_KEYS = ("type", "digest")
NUMBER_KEYS = ("id", "artifact_id", "size")
MAX_DIGITS = 19
SORT_KEYS: dict[str, Callable[[AccessoryInfo], Any]] = {
    "id": lambda info: info.id,
    "artifact_id": lambda info: info.artifact_id,
    "size": lambda info: info.size,
    "type": lambda info: info.type,
    "digest": lambda info: info.digest,
    "creation_time": lambda info: info.creation_time,
}


class Accessory(BaseModel):
    id: int
    artifact_id: int
    subject_artifact_id: int
    subject_artifact_digest: str
    subject_artifact_repo: str
    size: int
    digest: str
    type: str
    icon: str
    creation_time: datetime


def accessory_model(info: AccessoryInfo) -> Accessory:
    return Accessory(
        id=info.id,
        artifact_id=info.artifact_id,
        subject_artifact_id=info.subject_artifact_id,
        subject_artifact_digest=info.subject_artifact_digest,
        subject_artifact_repo=info.subject_artifact_repo,
        size=info.size,
        digest=info.digest,
        type=info.type,
        icon=info.icon,
        creation_time=info.creation_time,
    )


@router.get(
    f"{REPOSITORY_PATH}/artifacts/{{reference}}/accessories",
    response_model=list[Accessory],
)
async def list_accessories(
    request: Request,
    access: ListAccessories,
    response: Response,
    repository_name: str,
    reference: str,
    q: str | None = None,
    sort: str | None = None,
) -> list[Accessory]:
    """List the accessories of the artifact a tag or digest names, newest first.

    `q` takes `type`, `digest`, `id`, `artifact_id` and `size`, for example
    `type=signature.cosign` or `type={sbom.harbor subject.accessory}`.
    """
    registry = registry_of(request)
    page = page_of(request)
    name = repository_name_of(access, repository_name)
    terms = parse_query(q)
    for term in terms:
        _check_term(term)
    order = _sort_order(sort)

    def load() -> list[AccessoryInfo]:
        with registry.db.session(read_only=True) as session:
            repository = artifacts.require_repository_in(
                session, access.project.project_id, name
            )
            subject = artifacts.resolve_artifact(session, repository, reference)
            reader = ManifestReader(session, registry.store, repository)
            found = describe_accessories(reader, [Subject(subject.id, subject.digest)])
            return found[subject.digest]

    found = [info for info in await run_in_threadpool(load) if _matches(info, terms)]
    for key, descending in reversed(order):
        found.sort(key=SORT_KEYS[key], reverse=descending)
    set_page_headers(request, response, page, len(found))
    return [
        accessory_model(info) for info in found[page.offset : page.offset + page.size]
    ]


def _sort_order(raw: str | None) -> list[tuple[str, bool]]:
    """Return `(key, descending)` pairs, ending with the newest-first tie-breakers."""
    order = []
    for item in (raw or "").split(","):
        key = item.strip().lstrip("-")
        if not key:
            continue
        if key not in SORT_KEYS:
            allowed = ", ".join(sorted(SORT_KEYS))
            raise bad_request(f"unsupported sort key {key!r}; use one of: {allowed}")
        order.append((key, item.strip().startswith("-")))
    return [*order, ("creation_time", True), ("id", True)]


def _check_term(term: Term) -> None:
    """Raise a 400 error for an unknown key, a wrong match kind or a bad integer.

    The check runs before any row is read, so a bad `q` fails the same way
    whether or not the artifact has accessories.
    """
    if term.key in TEXT_KEYS:
        if term.kind == "range":
            raise bad_request(f"range match works on numeric keys only, not {term.key}")
        return
    if term.key in NUMBER_KEYS:
        if term.kind == "fuzzy":
            raise bad_request(
                f"fuzzy match (=~) works on text keys only, not {term.key}"
            )
        for value in term.values:
            if value or term.kind != "range":
                _integer(value)
        return
    allowed = ", ".join(sorted((*TEXT_KEYS, *NUMBER_KEYS)))
    raise bad_request(f"unsupported query key {term.key!r}; use one of: {allowed}")


def _matches(info: AccessoryInfo, terms: list[Term]) -> bool:
    return all(_term_matches(info, term) for term in terms)


def _term_matches(info: AccessoryInfo, term: Term) -> bool:
    """Match one term that `_check_term` accepted."""
    if term.key in TEXT_KEYS:
        text: str = getattr(info, term.key)
        if term.kind == "fuzzy":
            return term.values[0] in text
        return _compare(text, list(term.values), term.kind)
    number: int = getattr(info, term.key)
    if term.kind == "range":
        low, high = (_integer(value) if value else None for value in term.values)
        return (low is None or number >= low) and (high is None or number <= high)
    return _compare(number, [_integer(value) for value in term.values], term.kind)


def _compare(actual: object, values: list[Any], kind: str) -> bool:
    if kind == "any":
        return actual in values
    return all(actual == value for value in values)


def _integer(value: str) -> int:
    # ASCII digits only: `str.isdigit` also accepts characters such as "²"
    # that `int` rejects. Ids and sizes fit in 19 digits.
    digits = value.removeprefix("-")
    if not (digits.isascii() and digits.isdigit()) or len(digits) > MAX_DIGITS:
        raise bad_request(
            f"invalid integer {value[:40]!r} in query; use at most {MAX_DIGITS} "
            "decimal digits"
        )
    return int(value)


def accessories_by_subject(
    session: Session, store: BlobStore, repository: Repository, subjects: list[Subject]
) -> dict[str, list[Accessory]]:
    """Return the accessories of each subject by digest, for `with_accessory`."""
    reader = ManifestReader(session, store, repository)
    found = describe_accessories(reader, subjects)
    return {
        digest: [accessory_model(info) for info in _newest_first(infos)]
        for digest, infos in found.items()
    }


def _newest_first(infos: list[AccessoryInfo]) -> list[AccessoryInfo]:
    return sorted(infos, key=lambda info: (info.creation_time, info.id), reverse=True)
