"""The read-only launch page and an environment's list of launches, opened by a signed, expiring view link.

Server-rendered HTML with inline SVG charts and no script: the page keeps the approval page's headers
(nothing cached, framed, fetched from elsewhere, or leaked in a Referer) and refreshes itself while the
launch runs."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from chalicelib.api.pages.html import VIEW, Page, Refused, document, refusal
from chalicelib.domain.caller_text import for_html
from chalicelib.domain.models import LAUNCH_ID_PATTERN, Approval, Launch, LaunchStatus, Stage, TimelineEvent, profile_of
from chalicelib.domain.progress import Checkpoint
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


def launch_page(store: LaunchStore, launch_id: str, token: str, key: bytes) -> Page:
    """The launch as its people would look at it: status, checklist, sign-off, preflight, bake, rollback."""
    if not LAUNCH_ID_PATTERN.fullmatch(launch_id):
        return refused(400, "Malformed link", "This link does not name a launch we issue ids like.")
    try:
        _checked(key, f"launch:{launch_id}", token)
        launch, approvals, _, timeline = store.launch_history(launch_id)
    except Refused as refusal:
        return refusal.page
    except LaunchNotFound:
        return refused(404, "Unknown launch", "No launch has this id.")
    return render_launch(launch, approvals, timeline, store.clock.now())


def list_page(store: LaunchStore, environment: str, token: str, key: bytes, base_path: str) -> Page:
    """The environment's recent launches, newest first, each linked to its page (links as long-lived as this)."""
    if not ENVIRONMENT.fullmatch(environment):
        return refused(400, "Malformed link", "This link does not name an environment.")
    try:
        expires = _checked(key, f"environment:{environment}", token)
    except Refused as refusal:
        return refusal.page
    launches, _ = store.list_launches(limit=25, environment=environment)
    rows = []
    for launch in launches:
        view = sign_view(key, f"launch:{launch.launch_id}", expires)
        href = f"{base_path}/view/launches/{launch.launch_id}?token={view}"
        rows.append(
            f"<tr><td><a href='{for_html(href)}'>{for_html(launch.launch_id)}</a></td>"
            f"<td>{for_html(launch.request.version)}</td><td>{_badge(launch.status)}</td>"
            f"<td>{launch.created_at:%Y-%m-%d %H:%M} UTC</td><td>{for_html(launch.requested_by)}</td></tr>"
        )
    table = (
        "<table><tr><th>Launch</th><th>Version</th><th>Status</th><th>Started</th><th>By</th></tr>"
        + "".join(rows)
        + "</table>"
        if rows
        else "<p class='meta'>No launch yet.</p>"
    )
    running = any(not launch.status.is_final for launch in launches)
    title = f"Launches in {environment}"
    return _document(title, f"<h1>{for_html(title)}</h1>{table}", refresh=running)


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


def render_launch(launch: Launch, approvals: list[Approval], timeline: list[TimelineEvent], now: datetime) -> Page:
    request = launch.request
    ended = launch.status.is_final
    moment = launch.updated_at if ended else now
    header = (
        f"<h1>{for_html(request.version)} into {for_html(request.environment)} {_badge(launch.status)}</h1>"
        f"<p class='meta'>Launch {for_html(launch.launch_id)} · commit {for_html(request.git_sha)} · "
        f"by {for_html(launch.requested_by)} · started {launch.created_at:%Y-%m-%d %H:%M:%S} UTC · "
        f"{'took' if ended else 'running for'} {_seconds((moment - launch.created_at).total_seconds())}"
        + ("" if ended else f" · this page refreshes every {REFRESH_SECONDS} s")
        + "</p>"
    )
    if launch.error:
        header += (
            f"<p class='notice'><strong>{for_html(launch.error.get('error', ''))}</strong>: "
            f"{for_html(launch.error.get('cause', ''))}</p>"
        )
    sections = [
        header,
        _checklist(launch, timeline, moment),
        _approvals(launch, approvals),
        _bake(launch),
        _rollback(launch),
        _preflight(launch),
        _timeline(timeline),
    ]
    title = f"{request.version} into {request.environment}: {launch.status}"
    return _document(title, "".join(sections), refresh=not ended)


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
        else:
            state = "<span class='badge idle'>not reached</span>"
        duration = _seconds(took[name]) if name in took else ""
        rows.append(f"<tr><td>{for_html(label)}</td><td>{state}</td><td>{duration}</td></tr>")
    return "<h2>Checklist</h2><table><tr><th>Stage</th><th>State</th><th>Took</th></tr>" + "".join(rows) + "</table>"


def _approvals(launch: Launch, approvals: list[Approval]) -> str:
    roles = profile_of(launch).approvals.roles if launch.profile else [a.role for a in approvals]
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
    rows = "".join(
        f"<tr><td>{for_html(check.section)}</td><td>{for_html(check.title)}</td>"
        f"<td><span class='badge {tones.get(str(check.result), 'idle')}'>{for_html(str(check.result))}</span></td>"
        f"<td>{for_html(check.severity)}</td><td class='meta'>{for_html(check.resource)}</td></tr>"
        for check in report.checks
    )
    return (
        f"<h2>Preflight</h2><p>{for_html(report.summary)}</p>"
        "<table><tr><th>Section</th><th>Check</th><th>Result</th><th>Severity</th><th>Resource</th></tr>"
        + rows
        + "</table>"
    )


def _bake(launch: Launch) -> str:
    bake = launch.results.bake
    if bake is None:
        return ""
    config = profile_of(launch).bake if launch.profile else None
    points = sorted(bake.checkpoints, key=lambda c: c.offset_seconds)
    horizon = max([c.offset_seconds for c in points] + [s.offset_seconds for s in bake.schedule] + [1])
    charts = [
        _chart(
            "Error rate (%)",
            points,
            "error_rate",
            100.0,
            config.error_rate_threshold * 100 if config else None,
            horizon,
        ),
        _chart("p95 latency (ms)", points, "p95_ms", 1.0, config.p95_latency_threshold_ms if config else None, horizon),
        _chart("Requests", points, "requests", 1.0, None, horizon),
    ]
    verdict = {"healthy": "ok", "breach": "bad"}.get(bake.verdict, "run")
    alarms = ", ".join(bake.last.alarms_in_alarm) or "none"
    return (
        f"<h2>Bake <span class='badge {verdict}'>{bake.verdict}</span></h2>"
        f"<p class='meta'>Figures read at each checkpoint ({', '.join(c.label for c in points) or 'none yet'}); "
        f"alarms firing at the last look: {for_html(alarms)}. Dashed: the profile's threshold.</p>"
        f"<div class='charts'>{''.join(charts)}</div>"
    )


def _chart(
    title: str, points: list[Checkpoint], field: str, scale: float, threshold: float | None, horizon: int
) -> str:
    """A small line chart of one figure over the bake, the checkpoints marked, the threshold dashed."""
    width, height, pad = 300, 150, 28
    values: list[tuple[int, float]] = [
        (c.offset_seconds, float(getattr(c, field))) for c in points if getattr(c, field) is not None
    ]
    scaled = [(t, v * scale) for t, v in values]
    top = max([v for _, v in scaled] + ([threshold] if threshold else []) + [1e-9]) * 1.15

    def x(t: float) -> float:
        return pad + (width - 2 * pad) * t / horizon

    def y(v: float) -> float:
        return height - pad - (height - 2 * pad) * v / top

    parts = [
        f"<svg viewBox='0 0 {width} {height}' role='img' aria-label='{for_html(title)}'>",
        f"<text x='{pad}' y='16' font-size='12' font-weight='600'>{for_html(title)}</text>",
        f"<line x1='{pad}' y1='{height - pad}' x2='{width - pad}' y2='{height - pad}' stroke='#9aa4b2'/>",
        f"<text x='{pad}' y='{height - 8}' font-size='10' fill='#57606a'>0</text>",
        f"<text x='{width - pad}' y='{height - 8}' font-size='10' fill='#57606a' "
        f"text-anchor='end'>{_seconds(horizon)}</text>",
    ]
    if threshold:
        parts.append(
            f"<line x1='{pad}' y1='{y(threshold):.1f}' x2='{width - pad}' y2='{y(threshold):.1f}' "
            "stroke='#a3262b' stroke-dasharray='4 3'/>"
            f"<text x='{width - pad}' y='{y(threshold) - 3:.1f}' font-size='10' fill='#a3262b' "
            f"text-anchor='end'>{threshold:g}</text>"
        )
    for point in points:
        parts.append(
            f"<line x1='{x(point.offset_seconds):.1f}' y1='{pad}' x2='{x(point.offset_seconds):.1f}' "
            f"y2='{height - pad}' stroke='#d0d7de' stroke-dasharray='2 2'/>"
            f"<text x='{x(point.offset_seconds):.1f}' y='{pad - 4}' font-size='9' fill='#57606a' "
            f"text-anchor='middle'>{for_html(point.label)}</text>"
        )
    if scaled:
        path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in scaled)
        parts.append(f"<polyline points='{path}' fill='none' stroke='#1a56c4' stroke-width='2'/>")
        for t, v in scaled:
            parts.append(
                f"<circle cx='{x(t):.1f}' cy='{y(v):.1f}' r='3' fill='#1a56c4'/>"
                f"<text x='{x(t) + 4:.1f}' y='{y(v) - 4:.1f}' font-size='10'>{v:.3g}</text>"
            )
    else:
        parts.append(
            f"<text x='{width / 2}' y='{height / 2}' font-size='11' text-anchor='middle' "
            "fill='#57606a'>no figures</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _rollback(launch: Launch) -> str:
    rollback = launch.results.rollback
    if rollback is None:
        return ""
    rows = "".join(
        f"<tr><td>{for_html(change)}</td><td><span class='badge {'ok' if undone.settled else 'bad'}'>"
        f"{'undone' if undone.settled else 'not undone'}</span></td>"
        f"<td>{for_html(_undone_detail(undone.model_dump(exclude_none=True)))}</td></tr>"
        for change, undone in rollback.undone.items()
    )
    left = "".join(f"<li>{for_html(item)}</li>" for item in rollback.left)
    return (
        "<h2>Rollback</h2><table><tr><th>Change</th><th>State</th><th>What was done</th></tr>"
        + rows
        + "</table>"
        + (f"<p><strong>Left for a person:</strong></p><ul>{left}</ul>" if left else "")
    )


def _undone_detail(fields: dict[str, Any]) -> str:
    return "; ".join(f"{name.replace('_', ' ')}: {value}" for name, value in fields.items() if name != "settled")


def _timeline(timeline: list[TimelineEvent]) -> str:
    rows = "".join(
        f"<tr><td class='meta'>{event.at:%H:%M:%S}</td><td>{for_html(str(event.stage or ''))}</td>"
        f"<td>{for_html(event.message)}</td></tr>"
        for event in timeline[-60:]
    )
    return "<h2>Timeline</h2><table><tr><th>At (UTC)</th><th>Stage</th><th>What happened</th></tr>" + rows + "</table>"
