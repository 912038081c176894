"""The page an emailed approval link opens: GET shows the request, only the form's POST decides."""

from __future__ import annotations

import re
from datetime import datetime
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import urlsplit

from chalicelib.api.approvals import (
    MissingAttestations,
    NotAnApprover,
    NotAwaitingApproval,
    RequestExpired,
    SeparationOfDuties,
    decide,
)
from chalicelib.api.pages.html import APPROVAL, Page, Refused, document, refusal
from chalicelib.domain.caller_text import for_html
from chalicelib.domain.errors import BadRequest
from chalicelib.domain.models import Approval, ApprovalRequest, Launch, LaunchStatus, profile_of
from chalicelib.domain.progress import ReleaseChanges, evidence_text
from chalicelib.platform.links import (
    ExpiredLink,
    ForgedLink,
    LinkHolder,
    form_token,
    form_token_matches,
    new_form_nonce,
    sign_view,
    verify,
)
from chalicelib.store import AlreadyDecided, LaunchStore

COOKIE = "approval_form"
APPROVAL_ID = re.compile(r"[0-9a-f]{32}")


def _page(status: int, title: str, body: str, headers: dict[str, str] | None = None) -> Page:
    return document(APPROVAL, title, f"<h1>{for_html(title)}</h1>{body}", status, extra=headers)


def _notice(status: int, title: str, message: str, tone: str = "bad") -> Page:
    return refusal(APPROVAL, status, title, message, tone)


def _check(store: LaunchStore, approval_id: str, token: str, key: bytes) -> tuple[ApprovalRequest, LinkHolder, Launch]:
    """The request, who holds the link and the launch, or the page that says why the link cannot be used."""
    if not APPROVAL_ID.fullmatch(approval_id):
        raise Refused(_notice(400, "Malformed link", "This link's approval id is not one we issue."))
    if len(token) > 512:
        raise Refused(_notice(400, "Malformed link", "This link's token is longer than any we issue."))
    request = store.approval_request(approval_id)
    if request is None:
        raise Refused(_notice(404, "Unknown link", "This approval link does not name a request we know."))
    try:
        holder = verify(key, approval_id, token)
    except ForgedLink:
        raise Refused(
            _notice(403, "Link refused", "This link is not valid: it was altered or not issued by us.")
        ) from None
    except ExpiredLink as exc:
        raise Refused(_notice(410, "Link expired", f"This approval request has closed: {exc}.")) from None
    if holder.approver not in request.approvers:
        raise Refused(_notice(403, "Link refused", "This link was not issued to an approver of this request."))
    if request.state == "expired" or (request.state == "open" and store.clock.now() >= request.expires_at):
        raise Refused(_notice(410, "Request expired", "Nobody may decide on this request any more: it expired."))
    if request.state != "open":
        # Not a fault of whoever opens it: said plainly, in a neutral tone.
        when = f"{request.decided_at:%Y-%m-%d %H:%M} UTC" if request.decided_at else "an earlier time"
        verb = "approved" if request.state == "approved" else "rejected"
        if request.decided_by and request.decided_by == holder.approver:
            raise Refused(_notice(200, "Already decided", f"You {verb} this as {request.role} at {when}.", "idle"))
        if request.decided_by:
            said = f"{request.decided_by} {verb} {request.role} at {when}: nothing is left to decide for it."
            raise Refused(_notice(409, "Already decided", said, "idle"))
        said = f"This request was closed: {request.closed_because or request.state}. Nothing is left to decide."
        raise Refused(_notice(409, "Request closed", said, "idle"))
    launch = store.get_launch(request.launch_id)
    if launch.status != LaunchStatus.AWAITING_APPROVAL:
        if launch.abort:
            said = f"The launch was aborted by {launch.abort['aborted_by']}: {launch.abort['reason']}."
            raise Refused(_notice(409, "Launch aborted", said, "idle"))
        said = f"The launch is {launch.status}: it no longer waits for sign-off."
        raise Refused(_notice(409, "No longer waiting", said, "idle"))
    return request, holder, launch


def _summary(
    launch: Launch,
    request: ApprovalRequest,
    holder: LinkHolder,
    decided: list[Approval],
    key: bytes,
    now: datetime,
) -> str:
    """What an approver needs to decide: what changes, the release's checks, who else decided, the deadline."""
    asked = launch.request
    profile = profile_of(launch)
    report = launch.results.preflight
    checks = report.checks if report else []
    passed = sum(1 for check in checks if check.result == "pass")
    left = max(0, int((request.expires_at - now).total_seconds()))
    view = sign_view(key, f"launch:{launch.launch_id}", int(request.expires_at.timestamp()) + 86400)
    migration = profile.backend.migration
    rows = [
        (
            "Launch",
            f"<a href='../view/launches/{for_html(launch.launch_id)}?token={view}'>"
            f"{for_html(launch.launch_id)}</a> (its page)",
        ),
        ("Environment", for_html(asked.environment)),
        *(
            [
                (
                    "EMERGENCY",
                    f"outside the deploy windows ({for_html(launch.emergency.outside)}): "
                    f"{for_html(launch.emergency.reason)}; {for_html(launch.emergency.signoff_role)} signs off as well",
                )
            ]
            if launch.emergency
            else []
        ),
        ("Version", f"{for_html(asked.version)} (commit {for_html(asked.git_sha)})"),
        ("Requested by", for_html(launch.requested_by)),
        ("Frontend build", for_html(asked.frontend_artifact)),
        *([("Deploys exactly", for_html(launch.artifacts.in_words()))] if launch.artifacts is not None else []),
        ("Preflight", f"{passed}/{len(checks)} checks passed" + _warnings(checks)),
        ("Release checks", _release_checks(checks)),
        ("Your role", for_html(request.role)),
        ("You are", for_html(holder.approver)),
        ("Open until", f"{request.expires_at:%Y-%m-%d %H:%M} UTC (closes in {_span(left)})"),
    ]
    listing = "<dl>" + "".join(f"<dt>{for_html(k)}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"
    listing += _what_changes(
        launch, report.changes if report else None, migration.task_definition if migration else None
    )
    others = [approval for approval in decided if approval.role != request.role]
    if others:
        listing += (
            "<h2>Other sign-offs</h2><ul>"
            + "".join(
                f"<li>{for_html(a.role)}: {a.decision} by {for_html(a.approver)} at {a.decided_at:%H:%M} UTC"
                + (f": “{for_html(a.comment)}”" if a.comment else "")
                + "</li>"
                for a in others
            )
            + "</ul>"
        )
    return listing


def _what_changes(launch: Launch, changes: ReleaseChanges | None, migration: str | None) -> str:
    """What is live now against what this launch puts live, as preflight read it."""
    asked = launch.request
    rows = []
    if changes is None:
        rows.append(("Backend", f"the service rolls to {for_html(asked.backend_image)}"))
    else:
        live = for_html(changes.live_image or "unknown")
        revision = f" ({for_html(changes.live_task_definition)})" if changes.live_task_definition else ""
        same = changes.image_digest is not None and changes.image_digest == changes.live_image_digest
        rows.append(
            (
                "Backend",
                f"live: {live}{revision}{_digest(changes.live_image_digest)}<br>"
                f"new: {for_html(changes.image)}{_digest(changes.image_digest)}"
                + (" <strong>the same image as live</strong>" if same else ""),
            )
        )
        if changes.site_added is not None:
            rows.append(
                (
                    "Frontend",
                    f"{changes.site_added} objects added, {changes.site_changed} changed, {changes.site_removed} "
                    f"removed ({changes.site_unchanged} unchanged); live now: "
                    + (
                        for_html(f"{changes.live_version} ({changes.live_launch_id})")
                        if changes.live_version
                        else "no launch yet"
                    ),
                )
            )
        if changes.commits_total is not None:
            shown = "".join(
                f"<li><code>{for_html(commit.sha[:7])}</code> {for_html(commit.title)}"
                f" <span class='meta'>{for_html(commit.author)}</span></li>"
                for commit in changes.commits
            )
            more = changes.commits_total - len(changes.commits)
            link = f" <a href='{for_html(changes.compare_url)}'>compare on GitHub</a>" if changes.compare_url else ""
            rows.append(
                (
                    "Commits",
                    f"{changes.commits_total} since {for_html(changes.live_version or 'the live release')}{link}"
                    f"<ul>{shown}</ul>" + (f"<span class='meta'>and {more} older</span>" if more > 0 else ""),
                )
            )
        if changes.unread:
            rows.append(("Not read", for_html("; ".join(changes.unread))))
    rows.append(
        (
            "Database",
            f"migrated first by the task {for_html(migration)}, a snapshot taken before"
            if migration
            else "no migration",
        )
    )
    return "<h2>What changes</h2><dl>" + "".join(f"<dt>{for_html(k)}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"


def _digest(digest: str | None) -> str:
    return f" <span class='meta'>{for_html(digest[:19])}…</span>" if digest else ""


def _warnings(checks: list[Any]) -> str:
    warned = [check.title for check in checks if check.result == "warn"]
    return f"; warnings: {for_html('; '.join(warned))}" if warned else ""


def _release_checks(checks: list[Any]) -> str:
    """The release's CI checks as preflight read them on its commit, each linked to its run."""
    tests = next((check for check in checks if check.id == "app.release_tests"), None)
    found = (tests.evidence.get("checks") or {}) if tests else {}
    if not found:
        return "not read for this environment" if tests is None else for_html(evidence_text(tests.evidence))
    return ", ".join(
        f"<a href='{for_html(str(seen.get('url')))}'>{for_html(name)}</a>: {for_html(str(seen.get('result')))}"
        if seen.get("url")
        else f"{for_html(name)}: {for_html(str(seen.get('result')))}"
        for name, seen in found.items()
    )


def _span(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h {rest // 60:02d} min" if hours else f"{rest // 60} min"


def cookie_name(approval_id: str) -> str:
    return f"{COOKIE}_{approval_id}"


def show(store: LaunchStore, approval_id: str, token: str, key: bytes, page_path: str | None = None) -> Page:
    """The request and the decision form. A GET changes nothing: mail scanners fetch links too.

    The form posts to the page's own URL and the cookie is scoped to it, both without naming a base path:
    the page works at the root, under an API Gateway stage (`/api/approve/...`) or a custom domain's
    base path alike. `page_path` is the path the browser asked for, when the gateway says it."""
    try:
        request, holder, launch = _check(store, approval_id, token, key)
    except Refused as refusal:
        return refusal.page
    attestations = profile_of(launch).approvals.attestations
    nonce = new_form_nonce()
    boxes = "".join(
        f'<label><input type="checkbox" name="attest" value="{for_html(a.id)}"> {for_html(a.text)}</label>'
        for a in attestations
    )
    form = (
        # Relative to /<base>/approve/<id>: the same URL, whatever the base path.
        f'<form method="post" action="{for_html(approval_id)}">'
        f'<input type="hidden" name="token" value="{for_html(token)}">'
        f'<input type="hidden" name="form_token" value="{form_token(key, approval_id, nonce)}">'
        f"<fieldset><legend>Before approving, confirm</legend>{boxes}</fieldset>"
        '<label for="comment">Comment (required to reject)</label><textarea id="comment" name="comment"></textarea>'
        '<p><button type="submit" name="decision" value="approve">Approve</button>'
        '<button type="submit" name="decision" value="reject">Reject</button></p></form>'
    )
    # Without a known path the browser scopes the cookie to the page's directory (/<base>/approve).
    scope = f"; Path={page_path}" if page_path and page_path.endswith(f"/approve/{approval_id}") else ""
    cookie = f"{cookie_name(approval_id)}={nonce}{scope}; HttpOnly; SameSite=Strict; Max-Age=86400"
    return _page(
        200,
        f"Sign off {launch.request.version} into {launch.request.environment}",
        _summary(launch, request, holder, store.approvals(launch.launch_id), key, store.clock.now()) + form,
        {"Set-Cookie": cookie},
    )


def _same_origin(origin: str | None, host: str | None) -> bool:
    """The browser's Origin must be this host's: a form posted from elsewhere, without an Origin (every browser
    sends one with a POST) or with one that does not even parse is forged."""
    if not origin:
        return False
    try:
        netloc = urlsplit(origin).netloc
    except ValueError:
        return False
    return origin != "null" and bool(netloc) and netloc == (host or "")


def submit(
    store: LaunchStore,
    approval_id: str,
    form: dict[str, list[str]],
    headers: dict[str, str],
    key: bytes,
    sfn: Any,
) -> Page:
    """Decide from the form: the link, the form token and its cookie must all hold, then the rules apply."""
    first = {name: values[0] for name, values in form.items() if values}
    try:
        request, holder, launch = _check(store, approval_id, first.get("token", ""), key)
    except Refused as refusal:
        return refusal.page
    cookie: SimpleCookie = SimpleCookie()
    try:
        cookie.load(headers.get("cookie", ""))
    except CookieError:
        cookie = SimpleCookie()
    name = cookie_name(approval_id)
    nonce = cookie[name].value if name in cookie else None
    lowered = {name.lower(): value for name, value in headers.items()}
    if not form_token_matches(key, approval_id, nonce, first.get("form_token")) or not _same_origin(
        lowered.get("origin"), lowered.get("host")
    ):
        return _notice(403, "Form refused", "This form was not sent from the page we served. Open the link again.")
    decision = first.get("decision")
    if decision not in {"approve", "reject"}:
        return _notice(400, "No decision", "Choose Approve or Reject.")
    comment = first.get("comment", "").strip()[:2000]
    try:
        result = decide(
            store,
            request.launch_id,
            request.role,
            holder.approver,
            decision,  # type: ignore[arg-type]
            sfn,
            comment=comment,
            attestations=form.get("attest", []),
            via="link",
        )
    except BadRequest as exc:
        return _notice(400, "Say why", f"{exc.reason[0].upper()}{exc.reason[1:]}. Go back and add one.")
    except MissingAttestations as exc:
        return _notice(400, "Confirm first", f"{exc}. Go back, tick them, and approve again.")
    except AlreadyDecided as exc:
        return _notice(409, "Link already used", str(exc))
    except RequestExpired as exc:
        return _notice(410, "Request expired", str(exc))
    except (SeparationOfDuties, NotAnApprover) as exc:
        return _notice(403, "Not allowed", str(exc))
    except NotAwaitingApproval as exc:
        return _notice(409, "Not awaiting approval", str(exc))
    states = ", ".join(f"{role}: {state}" for role, state in result["approvals"].items())
    if result["decision"] == "rejected":
        return _notice(200, "Rejected", f"You rejected launch {launch.launch_id}; it stops and nothing is deployed.")
    gate = "Every role has approved: the launch goes on." if result["gate"] == "approved" else f"So far: {states}."
    return _notice(200, "Approved", f"You approved {launch.launch_id} as {request.role}. {gate}", tone="good")
