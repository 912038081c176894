"""The approval gate's opening: one request per role, each approver emailed their own signed link; and its
closing by time, when nobody decided before the requests expired."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from chalicelib.domain.caller_text import for_email, for_email_subject
from chalicelib.domain.models import ApprovalGateEvent, ApprovalRequest, Launch, LaunchStatus, Stage
from chalicelib.domain.profiles import EnvironmentProfile
from chalicelib.domain.progress import ApprovalsProgress, CheckResult, Progress, evidence_text
from chalicelib.domain.windows import approval_policy
from chalicelib.platform import chat, telemetry
from chalicelib.platform.links import launch_page_link, sign, signing_key, view_link
from chalicelib.stages.harness import StageCall, StageSpec
from chalicelib.store import LaunchStore


def approval_link(api_url: str, key: bytes, request: ApprovalRequest, approver: str) -> str:
    token = sign(key, request.approval_id, approver, int(request.expires_at.timestamp()))
    return f"{api_url}/approve/{request.approval_id}?token={token}"


def _email(launch: Launch, request: ApprovalRequest, profile: EnvironmentProfile, link: str, page: str) -> str:
    asked = launch.request
    preflight = launch.results.preflight
    checks = preflight.checks if preflight else []
    passed = sum(1 for check in checks if check.result == "pass")
    # What did not pass is what an approver should weigh: each warning, failure and skip, with its evidence.
    attention = [
        f"  - {check.result}: {check.id} ({check.title}): {evidence_text(check.evidence)}"
        for check in checks
        if check.result != "pass"
    ]
    confirm = "\n".join(f"  - {attestation.text}" for attestation in profile.approvals.attestations)
    tests = _release_tests(checks)
    changes = preflight.changes.in_words() if preflight and preflight.changes else []
    migration = profile.backend.migration
    database = f"migrated first by {migration.task_definition}" if migration else "no migration"
    requester = for_email(launch.requested_by, 200)  # a session's name is the caller's to choose
    emergency = launch.emergency
    marked = (
        [
            f"EMERGENCY: outside the deploy windows ({for_email(emergency.outside, 300)}); {emergency.signoff_role} "
            "signs off as well.",
            f"Why it cannot wait: {for_email(emergency.reason, 500)}",
            "",
        ]
        if emergency
        else []
    )
    return "\n".join(
        [
            *marked,
            f"{requester} asks you to sign off, as {request.role}, the launch of {asked.version} "
            f"into {asked.environment}.",
            "",
            f"Launch:       {launch.launch_id}",
            f"Environment:  {asked.environment}",
            f"Version:      {asked.version} (commit {asked.git_sha})",
            f"Requested by: {requester}",
            f"Preflight:    {preflight.summary if preflight else f'{passed}/{len(checks)} checks passed'}",
            *([f"Deploys:      {launch.artifacts.in_words()}"] if launch.artifacts else []),
            "What changes:",
            *(changes or [f"  - backend: the service rolls to {asked.backend_image}"]),
            f"  - database: {database}",
            *(["The release's checks on its commit:", *tests] if tests else []),
            *(["Preflight items that did not pass:", *attention] if attention else []),
            f"Open until:   {request.expires_at.isoformat(timespec='minutes')}",
            f"Launch page:  {page}",
            "",
            "Approving confirms:",
            confirm,
            "",
            f"Review and decide: {link}",
            "",
            "This link is yours alone: it is signed for you and for this request. Opening it changes nothing;",
            "only the buttons on the page do.",
        ]
    )


def _release_tests(checks: list[CheckResult]) -> list[str]:
    """Each required GitHub check of the release's commit, its result and its link, for the approver to open."""
    found = next((check for check in checks if check.id == "app.release_tests" and check.result != "skipped"), None)
    if found is None:
        return []
    seen: dict[str, dict[str, str]] = found.evidence.get("checks", {})
    return [
        f"  - {name}: {check['result']}" + (f" ({check['url']})" if check.get("url") else "")
        for name, check in seen.items()
    ]


def request_approvals(
    store: LaunchStore,
    launch: Launch,
    profile: EnvironmentProfile,
    task_token: str,
    sns: Any,
    topic_arn: str,
    api_url: str,
    key: bytes,
) -> ApprovalsProgress:
    """Store one request per role with the task token, email each approver their own link, open the gate.

    A retried step keeps the requests (and links) already made and emails only whom it has not.
    The status changes last, with the progress (see the stage table): a launch shows AWAITING_APPROVAL
    only once its approvers were asked."""
    policy = approval_policy(launch, profile)
    moment = store.clock.now()
    earlier = store.approval_requests(launch.launch_id)
    expires_at = earlier[0].expires_at if earlier else moment + timedelta(seconds=policy.timeout_seconds)
    wanted = [
        ApprovalRequest(
            approval_id=secrets.token_hex(16),
            launch_id=launch.launch_id,
            role=role,
            approvers=[email.lower() for email in policy.approvers[role]],
            requested_at=moment,
            expires_at=expires_at,
        )
        for role in policy.roles
    ]
    requests = store.open_approval_gate(launch.launch_id, task_token, wanted, expires_at, existing=earlier)
    for request in requests:
        for approver in request.approvers:
            if approver in request.emailed:
                continue
            link = approval_link(api_url, key, request, approver)
            try:
                message_id = sns.publish(
                    TopicArn=topic_arn,
                    Subject=for_email_subject(
                        f"[{launch.request.environment}]{' EMERGENCY:' if launch.emergency else ''} sign off "
                        f"{launch.request.version} as {request.role}?"
                    ),
                    Message=_email(launch, request, profile, link, view_link(key, api_url, launch.launch_id)),
                    # Each approver's subscription filters on this attribute: nobody receives another's link.
                    MessageAttributes={
                        "approver": {"DataType": "String", "StringValue": approver},
                        "launch_id": {"DataType": "String", "StringValue": launch.launch_id},
                        "role": {"DataType": "String", "StringValue": request.role},
                    },
                )["MessageId"]
            except Exception:
                # Counted for the controller's alarm (the step fails and is retried; each failure counts).
                telemetry.controller(counts={"ApprovalEmailsFailed": 1})
                raise
            store.mark_emailed(launch.launch_id, request.role, approver)
            store.append_event(
                launch.launch_id,
                "approval_email",
                f"emailed {approver} the {request.role} link (message {message_id})",
                stage=Stage.APPROVALS,
            )
    store.append_event(
        launch.launch_id,
        "approval_requested",
        f"sign-off asked of {', '.join(policy.roles)}, open until {expires_at.isoformat(timespec='minutes')}",
        stage=Stage.APPROVALS,
    )
    return ApprovalsProgress(roles=list(policy.roles), expires_at=expires_at)


def expire_requests(store: LaunchStore, launch_id: str) -> None:
    """The gate timed out: close what is still open as expired, for the record."""
    expired = store.close_open_requests(launch_id, "expired", "nobody decided before the request expired")
    if expired:
        store.append_event(
            launch_id, "approvals_expired", f"requests to {', '.join(expired)} expired", stage=Stage.APPROVALS
        )


def _request_approvals_step(call: StageCall) -> Progress:
    assert isinstance(call.event, ApprovalGateEvent)
    settings = call.settings
    key = signing_key(call.client("secretsmanager"), settings.approval_key_secret_id)
    progress = request_approvals(
        call.store,
        call.launch,
        call.profile,
        call.event.task_token,
        call.client("sns"),
        settings.approvals_topic_arn,
        settings.public_api_url,
        key,
    )
    expires_at = progress.expires_at.isoformat(timespec="minutes") if progress.expires_at else "the gate closes"
    page = launch_page_link(settings, call.client, call.launch.launch_id)
    if call.launch.emergency is not None and settings.paging_topic_arn:
        # Someone is launching while the environment is closed: a person hears of it now, not at the end.
        chat.publish(call.client("sns"), settings.paging_topic_arn, chat.emergency(call.launch, page))
    call.announce(chat.awaiting_approval(call.launch, call.profile, expires_at, page))
    return progress


def _awaiting_approval(_: Launch) -> tuple[LaunchStatus, Stage]:
    return LaunchStatus.AWAITING_APPROVAL, Stage.APPROVALS


REQUEST_APPROVALS = StageSpec(
    "request_approvals",
    Stage.APPROVALS,
    _request_approvals_step,
    exits=_awaiting_approval,
    own_clients=("sns", "secretsmanager"),
    event=ApprovalGateEvent,
)
