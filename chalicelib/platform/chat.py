"""What the team's channel hears about a launch, as AWS Chatbot's custom notifications (Slack, Microsoft Teams).

Amazon Q Developer in chat applications (AWS Chatbot) renders a message of this shape published to a topic
a channel subscribes to: a team maps the notifications topic to its channel and writes no code. Every
message of a launch carries the launch as its thread, so its updates gather under its first message."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from chalicelib.domain.caller_text import for_chat, for_email_subject

if TYPE_CHECKING:
    from chalicelib.domain.models import Launch
    from chalicelib.domain.profiles import EnvironmentProfile
    from chalicelib.domain.progress import Exposure, TrafficStep

ChatEvent = Literal["started", "awaiting_approval", "checkpoint", "ended", "emergency"]


class ChatContent(BaseModel):
    textType: Literal["client-markdown"] = "client-markdown"  # noqa: N815 - Chatbot's field names
    title: str
    description: str
    nextSteps: list[str] = Field(default_factory=list)  # noqa: N815
    keywords: list[str] = Field(default_factory=list)


class ChatMetadata(BaseModel):
    threadId: str  # noqa: N815
    summary: str
    eventType: str  # noqa: N815
    relatedResources: list[str] = Field(default_factory=list)  # noqa: N815
    additionalContext: dict[str, str] = Field(default_factory=dict)  # noqa: N815


class ChatNotification(BaseModel):
    """The custom notification schema, version 1.0."""

    version: Literal["1.0"] = "1.0"
    source: Literal["custom"] = "custom"
    id: str
    content: ChatContent
    metadata: ChatMetadata


def _notification(
    launch: Launch,
    event: ChatEvent,
    title: str,
    description: str,
    next_steps: list[str] | None = None,
    related: list[str] | None = None,
    **context: str,
) -> ChatNotification:
    request = launch.request
    if launch.emergency is not None:  # marked in every message once preflight found it outside the windows
        title = title.replace(f"[{request.environment}]", f"[{request.environment}] EMERGENCY:", 1)
        context["emergency"] = for_chat(launch.emergency.reason, 500)
    return ChatNotification(
        id=f"{launch.launch_id}/{event}/{context.get('checkpoint', context.get('status', ''))}".rstrip("/"),
        content=ChatContent(
            title=title,
            description=description,
            nextSteps=next_steps or [],
            keywords=[request.environment, request.version, event],
        ),
        metadata=ChatMetadata(
            threadId=launch.launch_id,
            summary=title,
            eventType=f"launch_{event}",
            relatedResources=[r for r in [launch.execution_arn, *(related or [])] if r],
            additionalContext={
                "launch_id": launch.launch_id,
                "environment": request.environment,
                "version": request.version,
                "git_sha": request.git_sha,
                "event": event,
                **context,
            },
        ),
    )


def started(launch: Launch) -> ChatNotification:
    request = launch.request
    return _notification(
        launch,
        "started",
        f":rocket: [{request.environment}] launch of {request.version} started",
        f"*{for_chat(launch.requested_by, 200)}* is launching `{request.version}` (`{request.git_sha[:12]}`) to "
        f"*{request.environment}*. Launch `{launch.launch_id}`.",
        status=str(launch.status),
    )


def awaiting_approval(launch: Launch, profile: EnvironmentProfile, expires_at: str, page: str = "") -> ChatNotification:
    # Only the approval gate asks this; the other senders of chat need not load the domain models.
    from chalicelib.domain.windows import approval_policy

    request, policy = launch.request, approval_policy(launch, profile)
    asked = [f"*{role}*: {', '.join(policy.approvers.get(role, [])) or 'nobody named'}" for role in policy.roles]
    return _notification(
        launch,
        "awaiting_approval",
        f":hourglass: [{request.environment}] {request.version} awaits sign-off",
        "Sign-off is asked of:\n"
        + "\n".join(f"• {line}" for line in asked)
        + f"\nOpen until {expires_at}."
        + _page_line(page),
        next_steps=["each approver signs off through the link in their own email"],
        status="AWAITING_APPROVAL",
        expires_at=expires_at,
    )


def emergency(launch: Launch, page: str = "") -> ChatNotification:
    """A launch going ahead outside its environment's deploy windows: it pages, and names who else signs off."""
    request, declared = launch.request, launch.emergency
    assert declared is not None
    opens = (
        f" The next window opens {declared.next_window_opens:%a %Y-%m-%d %H:%M %Z}."
        if declared.next_window_opens
        else ""
    )
    return _notification(
        launch,
        "emergency",
        f":rotating_light: [{request.environment}] launch of {request.version} outside the deploy windows",
        f"*{for_chat(launch.requested_by, 200)}* is launching `{request.version}` to *{request.environment}* "
        f"while it is closed ({for_chat(declared.outside, 300)}).{opens}\nWhy it cannot wait: "
        f"{for_chat(declared.reason, 500)}\nSigned off as well by *{declared.signoff_role}*: "
        f"{', '.join(declared.approvers)}." + _page_line(page),
        next_steps=[f"{declared.signoff_role} decides through the link in their own email"],
        status=str(launch.status),
        severity="page",
    )


def checkpoint(launch: Launch, label: str, figures: dict[str, Any], final: bool) -> ChatNotification:
    request = launch.request
    shown = ", ".join(f"{name} {value}" for name, value in figures.items() if value is not None) or "no figures"
    healthy = ": the release is healthy" if final else ""
    return _notification(
        launch,
        "checkpoint",
        f":white_check_mark: [{request.environment}] {request.version} passed {label}{healthy}",
        f"Bake checkpoint {label}: {shown}.",
        status="BAKING",
        checkpoint=label,
    )


def ended(
    launch: Launch,
    status: str,
    error_name: str | None,
    cause: str,
    manual_steps: list[str],
    urgent: bool,
    page: str = "",
    steps: list[TrafficStep] | None = None,
    exposure: Exposure | None = None,
) -> ChatNotification:
    """The launch's end: its cause, what it changed, how each traffic step was judged, what the release's
    revision served before the end, and the page."""
    request = launch.request
    what = "requested rollback" if launch.rollback_of else "launch"
    icon = {"SUCCEEDED": ":tada:", "ROLLED_BACK": ":leftwards_arrow_with_hook:"}.get(status, ":rotating_light:")
    if status == "ROLLBACK_FAILED":
        title = f"{icon} [{request.environment}] ACTION NEEDED: rollback of {request.version} failed"
    elif urgent:
        title = f"{icon} [{request.environment}] ACTION NEEDED: {what} of {request.version} ended {status} unfinished"
    else:
        title = f"{icon} [{request.environment}] {what} of {request.version} {status}"
    description = f"Launch `{launch.launch_id}` ended *{status}*."
    if cause:
        # A cause may be a caller's words (an abort's reason, a rejection's comment): inert in the channel.
        description += f"\nCause: {error_name + ': ' if error_name else ''}{for_chat(cause)}"
    if launch.changes:
        description += f"\nChanged: {', '.join(launch.changes)}."
    for step in steps or []:
        description += f"\nTraffic step {step.words()}."
    if exposure is not None:
        description += f"\nThe release's revision served {exposure.words()}."
    description += _page_line(page)
    return _notification(
        launch,
        "ended",
        title,
        description,
        next_steps=[for_chat(step) for step in manual_steps],
        status=status,
        error=error_name or "",
        cause=for_chat(cause),
        severity="page" if urgent else "action" if manual_steps else "info",
    )


def _page_line(page: str) -> str:
    """The launch page's view link (read-only, expiring): the channel is the team's, as the page is."""
    return f"\nLaunch page: {page}" if page else ""


def publish(sns: Any, topic_arn: str, note: ChatNotification) -> None:
    """Publish to `topic_arn`; the attributes let a subscription take only some (the pages, an environment)."""
    context = note.metadata.additionalContext
    sns.publish(
        TopicArn=topic_arn,
        Subject=for_email_subject(note.content.title.split(" ", 1)[1]),  # email subscribers': no emoji code
        Message=note.model_dump_json(),
        MessageAttributes={
            name: {"DataType": "String", "StringValue": context[key]}
            for name, key in [
                ("event", "event"),
                ("environment", "environment"),
                ("status", "status"),
                ("severity", "severity"),
            ]
            if context.get(key)
        },
    )


def read(message: str) -> dict[str, Any]:
    """A published notification as one flat record: its context, title, description and next steps."""
    note = ChatNotification.model_validate(json.loads(message))
    return {
        **note.metadata.additionalContext,
        "title": note.content.title,
        "description": note.content.description,
        "manual_steps": note.content.nextSteps,
    }
