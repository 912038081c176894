"""The read-only launch page and an environment's list of launches, opened by a signed, expiring view link.

Server-rendered HTML with inline SVG charts and no script: the page keeps the approval page's headers
(nothing cached, framed, fetched from elsewhere, or leaked in a Referer) and refreshes itself while the
launch runs."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from chalicelib.api.launches import decode_cursor, encode_cursor
from chalicelib.api.pages.html import VIEW, Page, Refused, document, refusal
from chalicelib.domain.caller_text import for_html
from chalicelib.domain.errors import BadRequest
from chalicelib.domain.models import (
    LAUNCH_ID_PATTERN,
    Approval,
    Launch,
    LaunchStatus,
    Stage,
    TimelineEvent,
    profile_of,
)
from chalicelib.domain.progress import (
    Baseline,
    Checkpoint,
    RevisionFigures,
    TrafficStep,
    UndoneChange,
    evidence_text,
    exposure_of,
    traffic_steps_of,
)
from chalicelib.domain.windows import approval_policy
from chalicelib.platform.links import ExpiredLink, ForgedLink, sign_view, verify_view
from chalicelib.platform.telemetry import stage_durations
from chalicelib.store import LaunchNotFound, LaunchStore

ENVIRONMENT = re.compile(r"[a-z0-9][a-z0-9-]{0,40}")
REFRESH_SECONDS = 5
CHECKLIST = [
    (Stage.PREFLIGHT, "Infrastructure checks"),
    (Stage.APPROVALS, "Sign-off"),
    (Stage.ROLLBACK_POINT, "Rollback point"),
    (Stage.FRONTEND, "Frontend (S3 + CloudFront)"),
    (Stage.BACKEND, "Backend (ECS)"),
    (Stage.SMOKE, "Smoke test"),
    (Stage.BAKE, "Bake (metrics watch)"),
    (Stage.ROLLBACK, "Rollback"),
]


def _document(title: str, body: str, status: int = 200, refresh: bool = False) -> Page:
    return document(VIEW, title, body, status, refresh_seconds=REFRESH_SECONDS if refresh else 0)


def refused(status: int, title: str, message: str) -> Page:
    return refusal(VIEW, status, title, message)


def _checked(key: bytes, subject: str, token: str) -> int:
    if len(token) > 256:
        raise Refused(refused(400, "Malformed link", "This link's token is longer than any we issue."))
    try:
        return verify_view(key, subject, token)
    except ForgedLink:
        raise Refused(refused(403, "Link refused", "This link is not valid: altered, or not issued by us.")) from None
    except ExpiredLink as exc:
        raise Refused(refused(410, "Link expired", f"{exc}. Ask for a new one: launchctl open.")) from None


@dataclass(frozen=True)
class Links:
    """Where a page's links lead: related launches' pages (signed to expire with this one), the page itself
    paused or refreshing, and the consoles a person goes on to."""

    key: bytes
    expires: int
    token: str
    paused: bool = False

    def launch(self, launch_id: str) -> str:
        # Relative to .../view/launches/<id>: a sibling page, whatever the base path.
        return f"{launch_id}?token={sign_view(self.key, f'launch:{launch_id}', self.expires)}"

    def environment(self, environment: str) -> str:
        token = sign_view(self.key, f"environment:{environment}", self.expires)
        return f"../environments/{environment}?token={token}"

    def refreshing(self, paused: bool) -> str:
        return f"?token={self.token}" + ("&paused=1" if paused else "")


def launch_page(store: LaunchStore, launch_id: str, token: str, key: bytes, paused: bool = False) -> Page:
    """The launch as its people would look at it: status, checklist, sign-off, preflight, bake, rollback."""
    if not LAUNCH_ID_PATTERN.fullmatch(launch_id):
        return refused(400, "Malformed link", "This link does not name a launch we issue ids like.")
    try:
        expires = _checked(key, f"launch:{launch_id}", token)
        launch, approvals, _, timeline = store.launch_history(launch_id)
    except Refused as refusal:
        return refusal.page
    except LaunchNotFound:
        return refused(404, "Unknown launch", "No launch has this id.")
    return render_launch(launch, approvals, timeline, store.clock.now(), Links(key, expires, token, paused))


LIST_PAGE_SIZE = 25


def list_page(
    store: LaunchStore, environment: str, token: str, key: bytes, base_path: str, cursor: str = "", paused: bool = False
) -> Page:
    """The environment's launches, newest first, 25 a page: what is live now, what was rolled back, how long
    each took, each linked to its page (links as long-lived as this one)."""
    if not ENVIRONMENT.fullmatch(environment):
        return refused(400, "Malformed link", "This link does not name an environment.")
    try:
        expires = _checked(key, f"environment:{environment}", token)
        after = decode_cursor(cursor) if cursor else None
    except Refused as refusal:
        return refusal.page
    except BadRequest:
        return refused(400, "Malformed link", "This link's page is not one we issue.")
    launches, last = store.list_launches(limit=LIST_PAGE_SIZE, environment=environment, after=after)
    serving = None if cursor else store.live_launch(environment)
    live = serving.launch_id if serving else None
    causes = store.causes([launch.launch_id for launch in launches if launch.status.is_final])
    rows = []
    for launch in launches:
        view = sign_view(key, f"launch:{launch.launch_id}", expires)
        href = f"{base_path}/view/launches/{launch.launch_id}?token={view}"
        marks = " <span class='badge good'>live now</span>" if live == launch.launch_id else ""
        if launch.rolled_back_by:
            marks += " <span class='badge warn'>rolled back</span>"
        if launch.request.emergency_reason:  # declared: the list's index holds the request, not preflight's finding
            marks += " <span class='badge bad'>emergency</span>"
        ended = launch.status.is_final
        took = _seconds((launch.updated_at - launch.created_at).total_seconds()) if ended else "running"
        cause = causes.get(launch.launch_id)
        if cause and cause.get("error") not in {None, "", "RollbackRequested"}:
            said = f"{cause.get('error')}: {cause.get('cause', '')}"
            marks += f"<br><span class='meta'>{for_html(said[:160] + ('…' if len(said) > 160 else ''))}</span>"
        rows.append(
            f"<tr><td><a href='{for_html(href)}'>{for_html(launch.launch_id)}</a></td>"
            f"<td>{for_html(launch.request.version)}</td><td>{_badge(launch.status)}{marks}</td>"
            f"<td>{launch.created_at:%Y-%m-%d %H:%M} UTC</td><td>{took}</td>"
            f"<td>{for_html(launch.requested_by)}</td></tr>"
        )
    table = (
        "<table><tr><th>Launch</th><th>Version</th><th>Status</th><th>Started</th><th>Took</th><th>By</th></tr>"
        + "".join(rows)
        + "</table>"
        if rows
        else "<p class='meta'>No launch yet.</p>"
    )
    more = encode_cursor(last)
    if more:
        table += f"<p><a href='?token={for_html(token)}&amp;cursor={for_html(more)}'>Older launches</a></p>"
    running = any(not launch.status.is_final for launch in launches)
    title = f"Launches in {environment}"
    refresh = _refresh_note(Links(key, expires, token, paused), running)
    body = f"<h1>{for_html(title)}</h1>{refresh}{table}"
    return _document(title, body, refresh=running and not paused)


def _refresh_note(links: Links, running: bool) -> str:
    """A page that refreshes says so and lets its reader stop it (WCAG 2.2.1): a link to the page without it."""
    if not running:
        return ""
    if links.paused:
        return f"<p class='meta'>Refresh paused. <a href='{for_html(links.refreshing(False))}'>Refresh again</a></p>"
    return (
        f"<p class='meta'>This page refreshes every {REFRESH_SECONDS} s while the launch runs. "
        f"<a href='{for_html(links.refreshing(True))}'>Pause the refresh</a></p>"
    )


def _badge(status: LaunchStatus | str) -> str:
    status = LaunchStatus(status)
    tone = (
        "ok"
        if status == LaunchStatus.SUCCEEDED
        else "run"
        if not status.is_final
        else "warn"
        if status in {LaunchStatus.ROLLED_BACK, LaunchStatus.ABORTED}
        else "bad"
    )
    return f"<span class='badge {tone}'>{for_html(str(status))}</span>"


def _seconds(value: float) -> str:
    value = round(value)
    return f"{value // 60} min {value % 60:02d} s" if value >= 60 else f"{value} s"


def render_launch(
    launch: Launch, approvals: list[Approval], timeline: list[TimelineEvent], now: datetime, links: Links
) -> Page:
    request = launch.request
    ended = launch.status.is_final
    moment = launch.updated_at if ended else now
    asked = launch.rollback_of
    if asked:
        title = f"Rollback of {request.version} in {request.environment}: {launch.status}"
        heading = f"Rollback of {for_html(request.version)} in {for_html(request.environment)}"
    else:
        title = f"{request.version} into {request.environment}: {launch.status}"
        heading = f"{for_html(request.version)} into {for_html(request.environment)}"
    marks = " <span class='badge warn'>rolled back later</span>" if launch.rolled_back_by else ""
    marks += " <span class='badge bad'>EMERGENCY</span>" if launch.emergency else ""
    header = (
        f"<h1>{heading} {_badge(launch.status)}{marks}</h1>"
        f"<p class='meta'>Launch {for_html(launch.launch_id)} · commit {for_html(request.git_sha)} · "
        f"by {for_html(launch.requested_by)} · started {launch.created_at:%Y-%m-%d %H:%M:%S} UTC · "
        f"{'took' if ended else 'running for'} {_seconds((moment - launch.created_at).total_seconds())}</p>"
        + (f"<p class='meta'>Deploys {for_html(launch.artifacts.in_words())}</p>" if launch.artifacts else "")
        + (
            f"<p class='notice'>Emergency launch outside the deploy windows ({for_html(launch.emergency.outside)}): "
            f"{for_html(launch.emergency.reason)}. {for_html(launch.emergency.signoff_role)} signs off as well.</p>"
            if launch.emergency
            else ""
        )
        + _refresh_note(links, not ended)
    )
    if asked:
        header += (
            f"<p class='notice'>{for_html(asked.get('requested_by', 'someone'))} asked to roll back "
            f"<a href='{for_html(links.launch(asked['launch_id']))}'>launch {for_html(asked['launch_id'])}</a>: "
            f"{for_html(asked.get('reason', ''))}</p>"
        )
    if launch.rolled_back_by:
        header += (
            "<p class='notice warn'>This launch was rolled back later, by "
            f"<a href='{for_html(links.launch(launch.rolled_back_by))}'>launch {for_html(launch.rolled_back_by)}</a>."
            "</p>"
        )
    if launch.error and launch.error.get("error") != "RollbackRequested":
        tone = "warn" if launch.status in {LaunchStatus.ROLLED_BACK, LaunchStatus.ABORTED} else "bad"
        header += (
            f"<p class='notice {tone}'><strong>{for_html(launch.error.get('error', ''))}</strong>: "
            f"{for_html(launch.error.get('cause', ''))}</p>"
        )
    sections = [
        header,
        _next_steps(timeline),
        _links_out(launch, links),
        _checklist(launch, timeline, moment),
        _approvals(launch, approvals),
        _traffic_steps(launch, timeline),
        _bake(launch),
        _rollback(launch),
        _preflight(launch),
        _timeline(timeline),
    ]
    return _document(title, "".join(sections), refresh=not ended and not links.paused)


def _next_steps(timeline: list[TimelineEvent]) -> str:
    """What a person must do now, as the finish wrote it: the very steps the team's channel was sent."""
    finished = next((event for event in reversed(timeline) if event.kind == "finished"), None)
    steps = list(finished.details.get("manual_steps", [])) if finished else []
    if not steps:
        return ""
    items = "".join(f"<li>{for_html(str(step))}</li>" for step in steps)
    return f"<section class='steps' aria-labelledby='next'><h2 id='next'>What to do now</h2><ol>{items}</ol></section>"


def _links_out(launch: Launch, links: Links) -> str:
    """Where to look next: the commit, its CI runs, the execution, the dashboard, the logs, canary artifacts."""
    request = launch.request
    profile = launch.profile
    found: list[tuple[str, str]] = []
    checks = profile.preflight.release_checks if profile else None
    repository = checks.repository if checks else _repository_of(launch)
    if repository:
        found.append((f"commit {request.git_sha[:12]}", f"https://github.com/{repository}/commit/{request.git_sha}"))
    report = launch.results.preflight
    tests = next((check for check in report.checks if check.id == "app.release_tests"), None) if report else None
    for name, seen in ((tests.evidence.get("checks") or {}) if tests else {}).items():
        if isinstance(seen, dict) and seen.get("url"):
            found.append((f"CI: {name} ({seen.get('result')})", str(seen["url"])))
    region = launch.execution_arn.split(":")[3] if launch.execution_arn and launch.execution_arn.count(":") > 3 else ""
    console = f"https://{region}.console.aws.amazon.com" if region else ""
    if console and launch.execution_arn:
        found.append(
            ("the execution", f"{console}/states/home?region={region}#/v2/executions/details/{launch.execution_arn}")
        )
    if console and profile:
        dashboard = profile.preflight.dashboard
        found.append(("the dashboard", f"{console}/cloudwatch/home?region={region}#dashboards/dashboard/{dashboard}"))
        query = quote(f"fields @timestamp, @message | filter launch_id = '{launch.launch_id}' | sort @timestamp")
        found.append(
            (
                "the controller's logs for this launch",
                f"{console}/cloudwatch/home?region={region}"
                f"#logsV2:logs-insights$3FqueryDetail$3D~(editorString~'{query})",
            )
        )
    smoke = launch.results.smoke
    for canary in smoke.canaries if smoke else []:
        if canary.artifacts:
            found.append((f"canary {canary.name}: screenshots and logs", _s3_console(canary.artifacts)))
    items = "".join(f"<li><a href='{for_html(url)}'>{for_html(label)}</a></li>" for label, url in found)
    every = f"every launch into {request.environment}"
    items += f"<li><a href='{for_html(links.environment(request.environment))}'>{for_html(every)}</a></li>"
    return f"<h2>Links</h2><ul>{items}</ul>"


def _repository_of(launch: Launch) -> str | None:
    callers = launch.profile.callers.github if launch.profile else None
    return callers.repositories[0] if callers and callers.repositories else None


def _s3_console(location: str) -> str:
    bucket_and_key = location.removeprefix("s3://")
    return f"https://s3.console.aws.amazon.com/s3/buckets/{bucket_and_key.split('/', 1)[0]}?prefix=" + quote(
        bucket_and_key.split("/", 1)[1] if "/" in bucket_and_key else ""
    )


def _checklist(launch: Launch, timeline: list[TimelineEvent], moment: datetime) -> str:
    took = stage_durations(timeline, moment)
    failed = {str(e.stage) for e in timeline if e.kind == "stage_failed" and e.stage}
    rows = []
    for stage, label in CHECKLIST:
        name = str(stage)
        if name in failed:
            state = "<span class='badge bad'>failed</span>"
        elif launch.stage == stage and not launch.status.is_final:
            state = "<span class='badge run'>running</span>"
        elif getattr(launch.results, name, None) is not None or name in took:
            state = "<span class='badge ok'>done</span>"
        elif launch.rollback_of and stage != Stage.ROLLBACK:
            state = "<span class='badge idle'>not needed</span>"  # a requested rollback only undoes
        else:
            state = "<span class='badge idle'>not reached</span>"
        duration = _seconds(took[name]) if name in took else ""
        rows.append(f"<tr><td>{for_html(label)}</td><td>{state}</td><td>{duration}</td></tr>")
    return "<h2>Checklist</h2><table><tr><th>Stage</th><th>State</th><th>Took</th></tr>" + "".join(rows) + "</table>"


def _approvals(launch: Launch, approvals: list[Approval]) -> str:
    if launch.rollback_of:
        return (
            "<h2>Sign-off</h2><p class='meta'>Not required: rolling back a launch that succeeded is not signed off.</p>"
        )
    roles = approval_policy(launch, profile_of(launch)).roles if launch.profile else [a.role for a in approvals]
    decided = {a.role: a for a in approvals}
    rows = []
    for role in roles:
        approval = decided.get(role)
        if approval is None:
            rows.append(
                f"<tr><td>{for_html(role)}</td><td><span class='badge idle'>waiting</span></td><td></td><td></td></tr>"
            )
            continue
        tone = "ok" if approval.decision == "approved" else "bad"
        rows.append(
            f"<tr><td>{for_html(role)}</td><td><span class='badge {tone}'>{approval.decision}</span></td>"
            f"<td>{for_html(approval.approver)} ({approval.via})<br><span class='meta'>"
            f"{approval.decided_at:%Y-%m-%d %H:%M} UTC</span></td><td>{for_html(approval.comment)}</td></tr>"
        )
    return (
        "<h2>Sign-off</h2><table><tr><th>Role</th><th>Decision</th><th>Who, when</th><th>Comment</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _preflight(launch: Launch) -> str:
    report = launch.results.preflight
    if report is None:
        return ""
    tones = {"pass": "ok", "fail": "bad", "warn": "warn", "skipped": "idle"}
    head = "<table><tr><th>Section</th><th>Check</th><th>Result</th><th>Severity</th><th>What was seen</th></tr>"

    def rows(checks: list[Any]) -> str:
        return "".join(
            f"<tr><td>{for_html(check.section)}</td><td>{for_html(check.title)}</td>"
            f"<td><span class='badge {tones.get(str(check.result), 'idle')}'>{for_html(str(check.result))}</span></td>"
            f"<td>{for_html(check.severity)}</td><td class='meta'>{for_html(check.resource)}: "
            f"{for_html(evidence_text(check.evidence))}</td></tr>"
            for check in checks
        )

    noted = [check for check in report.checks if check.result != "pass"]
    passed = [check for check in report.checks if check.result == "pass"]
    shown = head + rows(noted) + "</table>" if noted else ""
    folded = (
        f"<details><summary>The {len(passed)} checks that passed</summary>{head}{rows(passed)}</table></details>"
        if passed
        else ""
    )
    return f"<h2>Preflight</h2><p>{for_html(report.summary)}</p>{shown}{folded}"


def _traffic_steps(launch: Launch, timeline: list[TimelineEvent]) -> str:
    """Each traffic step of a canary or linear rollout, the release against the old revision over the same
    minutes (a chart of each figure, step by step, and the table it is drawn from), and what the release's
    revision served before the launch ended."""
    steps, exposure = traffic_steps_of(timeline), exposure_of(timeline)
    if not steps and exposure is None:
        return ""
    served = f"<p>The release's revision served {for_html(exposure.words())}.</p>" if exposure else ""
    if not steps:
        return f"<h2>Exposure</h2>{served}"
    judged = [step for step in steps if step.new is not None and step.old is not None]
    charts = [
        StepChart("Error rate (%)", lambda f: 100 * f.errors / f.requests if f.requests else None),
        StepChart("p95 latency (ms)", lambda f: max(f.latency_points_ms) if f.latency_points_ms else None),
    ]
    tones = {"pass": "ok", "fail": "bad", "too_little": "warn"}
    rows = "".join(
        f"<tr><td>{step.weight:g} %</td><td>{step.started_at:%H:%M:%S}</td>"
        f"<td><span class='badge {tones.get(step.outcome or '', 'run')}'>{for_html(step.outcome or 'watching')}"
        f"</span>{' (extended ' + str(step.extended) + ')' if step.extended else ''}</td>"
        f"<td>{_revision(step.new)}</td><td>{_revision(step.old)}</td>"
        f"<td>{_p(step.error_p_value)}</td><td>{_p(step.latency_p_value)}</td>"
        f"<td class='meta'>{for_html('; '.join(step.reasons))}</td></tr>"
        for step in steps
    )
    return (
        "<h2>Traffic steps</h2><p class='meta'>Each step's figures over its own minutes: the release (blue) against "
        "the old revision (grey), each from its own target group.</p>"
        + (f"<div class='charts'>{''.join(chart.svg(judged) for chart in charts)}</div>" if judged else "")
        + "<table><tr><th>Step</th><th>Began (UTC)</th><th>Verdict</th><th>Release: requests, failed</th>"
        "<th>Old revision: requests, failed</th><th>Errors p</th><th>p95 p</th><th>Why</th></tr>"
        + rows
        + "</table>"
        + served
    )


def _revision(figures: RevisionFigures | None) -> str:
    return "-" if figures is None else f"{figures.requests}, {figures.errors}"


def _p(value: float | None) -> str:
    return "-" if value is None else f"{value:.2g}"


@dataclass(frozen=True)
class StepChart:
    """One figure at each traffic step: the release's bar beside the old revision's."""

    title: str
    value: Callable[[RevisionFigures], float | None]

    def svg(self, steps: list[TrafficStep]) -> str:
        width, height, left, pad = 320, 170, 44, 24
        pairs = [(step, self.value(step.new), self.value(step.old)) for step in steps if step.new and step.old]
        top = max([v for _, new, old in pairs for v in (new, old) if v is not None] + [1e-9]) * 1.15
        slot = (width - left - pad) / max(1, len(pairs))
        said = "; ".join(f"{step.weight:g} %: release {_shown(new)}, old {_shown(old)}" for step, new, old in pairs)
        parts = [
            f"<svg viewBox='0 0 {width} {height}' role='img' aria-label='{for_html(self.title)}: {for_html(said)}'>",
            f"<text x='{left}' y='14' font-size='13' font-weight='600'>{for_html(self.title)}</text>",
            f"<line x1='{left}' y1='{height - pad}' x2='{width - pad}' y2='{height - pad}' stroke='#9aa4b2'/>",
            f"<text x='{left - 4}' y='{pad + 4}' font-size='11' fill='#57606a' text-anchor='end'>"
            f"{top / 1.15:.3g}</text>",
        ]
        for index, (step, new, old) in enumerate(pairs):
            x = left + slot * index + slot * 0.15
            bar = slot * 0.3
            for offset, value, colour in ((0.0, new, "#1a56c4"), (bar, old, "#9aa4b2")):
                if value is None:
                    continue
                tall = (height - 2 * pad) * value / top
                parts.append(
                    f"<rect x='{x + offset:.1f}' y='{height - pad - tall:.1f}' width='{bar:.1f}' "
                    f"height='{tall:.1f}' fill='{colour}'/>"
                )
            parts.append(
                f"<text x='{x + bar:.1f}' y='{height - 6}' font-size='11' fill='#57606a' "
                f"text-anchor='middle'>{step.weight:g} %</text>"
            )
        parts.append("</svg>")
        return "".join(parts)


def _shown(value: float | None) -> str:
    return "none" if value is None else f"{value:.3g}"


def _bake(launch: Launch) -> str:
    bake = launch.results.bake
    if bake is None:
        return ""
    config = profile_of(launch).bake if launch.profile else None
    points = sorted(bake.checkpoints, key=lambda c: c.offset_seconds)
    horizon = max([c.offset_seconds for c in points] + [s.offset_seconds for s in bake.schedule] + [1])
    error_floor = config.error_rate_threshold if config else None
    p95_floor = config.p95_latency_threshold_ms if config else None
    charts = [
        Chart("Error rate (%)", "error_rate", 100.0, "error_rate_limit", error_floor, "error_rate"),
        Chart("p95 latency (ms)", "p95_ms", 1.0, "p95_limit_ms", p95_floor, "p95_ms"),
        Chart("Requests", "requests", 1.0, None, None, "requests"),
    ]
    verdict = {"healthy": "ok", "breach": "bad"}.get(bake.verdict, "run")
    alarms = ", ".join(bake.last.alarms_in_alarm) or "none"
    return (
        f"<h2>Bake <span class='badge {verdict}'>{bake.verdict}</span></h2>"
        f"<p class='meta'>Figures read at each checkpoint ({', '.join(c.label for c in points) or 'none yet'}); "
        f"alarms firing at the last look: {for_html(alarms)}. Red dashes: the limit each checkpoint was judged "
        "against (the baseline's, or the profile's threshold); grey dots: the baseline before the launch.</p>"
        f"<div class='charts'>{''.join(chart.svg(points, bake.baseline, horizon) for chart in charts)}</div>"
        + _figures_table(points, bake.baseline)
    )


@dataclass(frozen=True)
class Chart:
    """One figure over the bake: the checkpoints' values, the limit each was judged by, the baseline."""

    title: str
    field: str
    scale: float  # to the unit shown (a rate as a percentage)
    limit_field: str | None  # the limit a checkpoint was judged by, when the baseline set one
    floor: float | None  # the profile's threshold, the limit when no baseline set one
    baseline_field: str

    def limit(self, point: Checkpoint) -> float | None:
        judged: float | None = getattr(point, self.limit_field) if self.limit_field else None
        return judged if judged is not None else self.floor

    def svg(self, points: list[Checkpoint], baseline: Baseline | None, horizon: int) -> str:
        """A small line chart with a y scale; the checkpoints marked; text alternatives in its label."""
        width, height, left, pad = 320, 170, 44, 24
        values = [
            (c.offset_seconds, float(getattr(c, self.field)) * self.scale)
            for c in points
            if getattr(c, self.field) is not None
        ]
        limits = [(c.offset_seconds, limit * self.scale) for c in points if (limit := self.limit(c)) is not None]
        if not limits and self.floor is not None:
            limits = [(0, self.floor * self.scale), (horizon, self.floor * self.scale)]
        read: float | None = getattr(baseline, self.baseline_field, None) if baseline else None
        base = read * self.scale if read is not None else None
        top = max([v for _, v in values + limits] + ([base] if base is not None else []) + [1e-9]) * 1.15

        def x(t: float) -> float:
            return left + (width - left - pad) * t / horizon

        def y(v: float) -> float:
            return height - pad - (height - 2 * pad) * v / top

        said = "; ".join(f"{label_of(points, t)}: {v:.3g}" for t, v in values) or "no figures yet"
        parts = [
            f"<svg viewBox='0 0 {width} {height}' role='img' aria-label='{for_html(self.title)}: {for_html(said)}'>",
            f"<text x='{left}' y='14' font-size='13' font-weight='600'>{for_html(self.title)}</text>",
            f"<line x1='{left}' y1='{height - pad}' x2='{width - pad}' y2='{height - pad}' stroke='#9aa4b2'/>",
            f"<line x1='{left}' y1='{pad}' x2='{left}' y2='{height - pad}' stroke='#9aa4b2'/>",
            f"<text x='{left}' y='{height - 6}' font-size='11' fill='#57606a'>0</text>",
            f"<text x='{width - pad}' y='{height - 6}' font-size='11' fill='#57606a' "
            f"text-anchor='end'>{_seconds(horizon)}</text>",
        ]
        for tick in (0.0, top / 2.3, top / 1.15):
            parts.append(
                f"<text x='{left - 4}' y='{y(tick) + 4:.1f}' font-size='11' fill='#57606a' "
                f"text-anchor='end'>{tick:.3g}</text>"
            )
        if base is not None:
            parts.append(
                f"<line x1='{left}' y1='{y(base):.1f}' x2='{width - pad}' y2='{y(base):.1f}' stroke='#57606a' "
                "stroke-dasharray='1 3'/>"
            )
        if limits:
            path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in limits)
            parts.append(f"<polyline points='{path}' fill='none' stroke='#a3262b' stroke-dasharray='5 3'/>")
        for point in points:
            parts.append(
                f"<text x='{x(point.offset_seconds):.1f}' y='{pad - 6}' font-size='11' fill='#57606a' "
                f"text-anchor='middle'>{for_html(point.label)}</text>"
            )
        if values:
            path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in values)
            parts.append(f"<polyline points='{path}' fill='none' stroke='#1a56c4' stroke-width='2'/>")
            parts += [f"<circle cx='{x(t):.1f}' cy='{y(v):.1f}' r='3.5' fill='#1a56c4'/>" for t, v in values]
        else:
            parts.append(
                f"<text x='{width / 2}' y='{height / 2}' font-size='12' text-anchor='middle' "
                "fill='#57606a'>no figures yet</text>"
            )
        parts.append("</svg>")
        return "".join(parts)


def label_of(points: list[Checkpoint], offset: int) -> str:
    return next((point.label for point in points if point.offset_seconds == offset), _seconds(offset))


def _figures_table(points: list[Checkpoint], baseline: Baseline | None) -> str:
    """The charts' figures as a table, for a screen reader and for anyone who wants the numbers."""

    def shown(value: float | None, scale: float = 1.0) -> str:
        return "-" if value is None else f"{value * scale:.3g}"

    rows = [
        f"<tr><td>{for_html(point.label)}</td><td>{shown(point.requests)}</td>"
        f"<td>{shown(point.error_rate, 100)}</td><td>{shown(point.error_rate_limit, 100)}</td>"
        f"<td>{shown(point.p95_ms)}</td><td>{shown(point.p95_limit_ms)}</td></tr>"
        for point in points
    ]
    if baseline is not None:
        rows.insert(
            0,
            f"<tr><td>baseline</td><td>{shown(baseline.requests)}</td><td>{shown(baseline.error_rate, 100)}</td>"
            f"<td></td><td>{shown(baseline.p95_ms)}</td><td></td></tr>",
        )
    if not rows:
        return ""
    return (
        "<details><summary>The figures as a table</summary><table><tr><th>Checkpoint</th><th>Requests</th>"
        "<th>Error rate (%)</th><th>Its limit (%)</th><th>p95 (ms)</th><th>Its limit (ms)</th></tr>"
        + "".join(rows)
        + "</table></details>"
    )


def _rollback(launch: Launch) -> str:
    rollback = launch.results.rollback
    if rollback is None:
        return ""
    rows = "".join(
        f"<tr><td>{for_html(change)}</td><td><span class='badge {'ok' if undone.settled else 'bad'}'>"
        f"{'undone' if undone.settled else 'not undone'}</span></td>"
        f"<td>{for_html(_undone_words(undone))}</td></tr>"
        for change, undone in rollback.undone.items()
    )
    left = "".join(f"<li>{for_html(item)}</li>" for item in rollback.left)
    return (
        "<h2>Rollback</h2><table><tr><th>Change</th><th>State</th><th>What was done</th></tr>"
        + rows
        + "</table>"
        + (f"<p><strong>Left for a person:</strong></p><ul>{left}</ul>" if left else "")
    )


def _undone_words(undone: UndoneChange) -> str:
    """What undoing one change did, as a sentence: the revision the service is back on, the objects copied
    back, the instance the database was restored into."""
    said = []
    if undone.task_definition_arn:
        said.append(f"the service is back on {undone.task_definition_arn.rsplit('/', 1)[-1]}")
    if undone.deployment_id:
        said.append(f"by ECS deployment {undone.deployment_id}")
    if undone.restored is not None or undone.deleted is not None:
        said.append(f"{undone.restored or 0} objects put back, {undone.deleted or 0} the release added deleted")
    if undone.invalidation_id:
        said.append(f"the CDN invalidated ({undone.invalidation_id})")
    if undone.restored_instance:
        said.append(f"restored into a new instance, {undone.restored_instance}: switch the application to it")
    if undone.status and not undone.settled:
        said.append(f"still {undone.status}")
    if undone.reason:
        said.append(undone.reason)
    return "; ".join(said) or ("nothing to undo" if undone.settled else "not undone")


def _timeline(timeline: list[TimelineEvent]) -> str:
    rows = "".join(
        f"<tr><td class='meta'>{event.at:%H:%M:%S}</td><td>{for_html(str(event.stage or ''))}</td>"
        f"<td>{for_html(event.message)}</td></tr>"
        for event in timeline[-60:]
    )
    return "<h2>Timeline</h2><table><tr><th>At (UTC)</th><th>Stage</th><th>What happened</th></tr>" + rows + "</table>"
