"""Harbor's security hub routes: `/security/summary` and `/security/vul`.

Both read every project, so they need the system permissions
`security-hub:read` and `security-hub:list`, which only system
administrators and robots granted them hold.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from seawall.api.deps import registry_of, system_guard
from seawall.api.errors import bad_request
from seawall.api.pagination import page_of, set_page_headers
from seawall.api.query import parse_query
from seawall.auth import Principal
from seawall.scan import security_hub, vulnerability_list

router = APIRouter()

RESOURCE = "security-hub"
# With `tune_count`, a total above this is reported as -1, as Harbor does,
# for clients that only need to know the list is long.
TUNED_COUNT_LIMIT = 1000

can_read_summary = system_guard(RESOURCE, "read")
can_list_vulnerabilities = system_guard(RESOURCE, "list")


class DangerousCVE(BaseModel):
    cve_id: str
    severity: str
    cvss_score_v3: float | None
    desc: str
    package: str
    version: str


class DangerousArtifact(BaseModel):
    project_id: int
    repository_name: str
    digest: str
    critical_cnt: int
    high_cnt: int
    medium_cnt: int


class SecuritySummary(BaseModel):
    critical_cnt: int
    high_cnt: int
    medium_cnt: int
    low_cnt: int
    none_cnt: int
    unknown_cnt: int
    total_vuls: int
    scanned_cnt: int
    total_artifact: int
    fixable_cnt: int
    dangerous_cves: list[DangerousCVE] | None = None
    dangerous_artifacts: list[DangerousArtifact] | None = None


class VulnerabilityItem(BaseModel):
    project_id: int
    repository_name: str
    digest: str
    tags: list[str] | None = None
    cve_id: str
    severity: str
    cvss_v3_score: float | None
    package: str
    version: str
    fixed_version: str
    desc: str
    links: list[str]


def _summary_body(summary: security_hub.SecuritySummary) -> SecuritySummary:
    counts = summary.counts
    body = SecuritySummary(
        critical_cnt=counts.critical,
        high_cnt=counts.high,
        medium_cnt=counts.medium,
        low_cnt=counts.low,
        none_cnt=counts.none,
        unknown_cnt=counts.unknown,
        total_vuls=summary.total_vuls,
        scanned_cnt=summary.scanned_cnt,
        total_artifact=summary.total_artifact,
        fixable_cnt=summary.fixable_cnt,
    )
    if summary.dangerous_cves is not None:
        body.dangerous_cves = [
            DangerousCVE(
                cve_id=cve.cve_id,
                severity=cve.severity,
                cvss_score_v3=cve.cvss_score_v3,
                desc=cve.desc,
                package=cve.package,
                version=cve.version,
            )
            for cve in summary.dangerous_cves
        ]
    if summary.dangerous_artifacts is not None:
        body.dangerous_artifacts = [
            DangerousArtifact(
                project_id=item.project_id,
                repository_name=item.repository_name,
                digest=item.digest,
                critical_cnt=item.critical_cnt,
                high_cnt=item.high_cnt,
                medium_cnt=item.medium_cnt,
            )
            for item in summary.dangerous_artifacts
        ]
    return body


@router.get(
    "/security/summary",
    response_model=SecuritySummary,
    response_model_exclude_none=True,
)
async def get_security_summary(
    request: Request,
    with_dangerous_cve: bool = Query(
        False, description="Include the five most dangerous CVEs."
    ),
    with_dangerous_artifact: bool = Query(
        False, description="Include the five artifacts with the most severe findings."
    ),
    principal: Principal = Depends(can_read_summary),
) -> SecuritySummary:
    """Count artifacts, scanned artifacts and vulnerabilities by severity."""
    registry = registry_of(request)

    def load() -> security_hub.SecuritySummary:
        with registry.db.session(read_only=True) as session:
            return security_hub.security_summary(
                session,
                with_dangerous_cve=with_dangerous_cve,
                with_dangerous_artifact=with_dangerous_artifact,
            )

    return _summary_body(await run_in_threadpool(load))


def _item_body(
    item: vulnerability_list.VulnerabilityItem, with_tag: bool
) -> VulnerabilityItem:
    return VulnerabilityItem(
        project_id=item.project_id,
        repository_name=item.repository_name,
        digest=item.digest,
        tags=item.tags if with_tag else None,
        cve_id=item.cve_id,
        severity=item.severity,
        cvss_v3_score=item.cvss_v3_score,
        package=item.package,
        version=item.version,
        fixed_version=item.fixed_version,
        desc=item.desc,
        links=item.links,
    )


@router.get(
    "/security/vul",
    response_model=list[VulnerabilityItem],
    response_model_exclude_none=True,
)
async def list_vulnerabilities(
    request: Request,
    response: Response,
    tune_count: bool = Query(
        False, description="Report X-Total-Count as -1 when it is above 1000."
    ),
    with_tag: bool = Query(False, description="Include the tags of each artifact."),
    principal: Principal = Depends(can_list_vulnerabilities),
) -> list[VulnerabilityItem]:
    """List findings of scanned artifacts, most severe first.

    `q` keys: cve_id, severity, cvss_score_v3 (a range such as `[7~10]`),
    project_id, repository_name, package, tag and digest. Text keys take an
    exact value, `~value` for a substring, or `{a b}` for any of several.
    """
    registry = registry_of(request)
    page = page_of(request)
    criteria = [
        vulnerability_list.Criterion(term.key, term.kind, term.values)
        for term in parse_query(request.query_params.get("q"))
    ]
    try:
        vulnerability_list.validate_criteria(criteria)
    except vulnerability_list.QueryInvalid as exc:
        raise bad_request(exc.message) from exc

    def load() -> list[vulnerability_list.VulnerabilityItem]:
        with registry.db.session(read_only=True) as session:
            return vulnerability_list.list_vulnerabilities(
                session, criteria, with_tag=with_tag
            )

    items = await run_in_threadpool(load)
    total = len(items)
    set_page_headers(request, response, page, total)
    if tune_count and total > TUNED_COUNT_LIMIT:
        response.headers["X-Total-Count"] = "-1"
    chosen = items[page.offset : page.offset + page.size]
    return [_item_body(item, with_tag) for item in chosen]
