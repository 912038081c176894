"""What the API answers: one pydantic model per answer; the handlers shape their answers with them and
/openapi.json is built from them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from chalicelib.domain.evidence_chain import EVIDENCE_FORMAT, ChainedEvent, Seal
from chalicelib.domain.models import (
    Approval,
    ApprovalRequest,
    Caller,
    Launch,
    LaunchStatus,
    ListedLaunch,
    RequestState,
    Stage,
    TimelineEvent,
)
from chalicelib.domain.progress import PreflightProgress

# A summary's moments as Python spells them (+00:00), which callers have parsed since the first version.
Moment = Annotated[
    datetime,
    PlainSerializer(lambda moment: moment.isoformat(), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def body(self) -> dict[str, Any]:
        """The JSON body: every field set, and a field left out when it was never set."""
        return self.model_dump(mode="json", exclude_unset=True)


class FieldError(Answer):
    field: str
    reason: str


class ErrorBody(Answer):
    code: str = Field(description="stable, for scripts")
    message: str
    fields: list[FieldError] | None = Field(default=None, description="each field that is wrong, and why")
    running_launch_id: str | None = Field(default=None, description="environment_locked: the launch holding it")
    held_because: str | None = Field(default=None, description="environment_locked: why a person must unlock it")


class ErrorAnswer(Answer):
    error: ErrorBody


class LaunchSummary(Answer):
    launch_id: str
    environment: str
    version: str
    status: LaunchStatus
    stage: Stage | None
    created_at: Moment
    updated_at: Moment
    requested_by: str = Field(default="unknown", description="the verified caller who started it")
    rolled_back_by: str | None = Field(default=None, description="the launch that later rolled this one back")

    @classmethod
    def of(cls, launch: Launch | ListedLaunch) -> LaunchSummary:
        return cls(**_summary_fields(launch))


def _summary_fields(launch: Launch | ListedLaunch) -> dict[str, Any]:
    return {
        "launch_id": launch.launch_id,
        "environment": launch.request.environment,
        "version": launch.request.version,
        "status": launch.status,
        "stage": launch.stage,
        "created_at": launch.created_at,
        "updated_at": launch.updated_at,
        "requested_by": launch.requested_by,
        "rolled_back_by": launch.rolled_back_by,
    }


class ViewLinkAnswer(Answer):
    """A read-only page's signed link: whoever holds it may look, until it expires; nobody may act with it."""

    url: str
    expires_at: Moment


class EnvironmentStanding(Answer):
    """What a caller may do in one environment, as its profile says now."""

    environment: str
    person: str | None = Field(description="who the environment's people directory says the caller is")
    may_launch: bool = Field(description="may start, abort and roll back launches")
    approves: list[str] = Field(description="the roles the caller may sign off for")


class WhoAmIAnswer(Answer):
    """The caller as the API verified them, and where they count (launchctl whoami)."""

    caller: Caller
    environments: list[EnvironmentStanding] = Field(description="only those where the caller counts")


class LaunchPage(Answer):
    launches: list[LaunchSummary]
    next_cursor: str | None = Field(description="null on the last page")


class PreflightAnswer(Answer, PreflightProgress):
    """The checks against an environment now, without a launch."""

    environment: str


class ApprovalRequestView(Answer):
    """A role's request as the launch's reader sees it (its link id stays private)."""

    role: str
    state: RequestState
    approvers: list[str]
    decided_by: str | None
    decided_at: datetime | None
    expires_at: datetime
    closed_because: str | None
    emailed: list[str]

    @classmethod
    def of(cls, request: ApprovalRequest) -> ApprovalRequestView:
        return cls.model_validate(request.model_dump(include=set(cls.model_fields)))


class LaunchDetail(Launch):
    """A launch as an engineer reads it: its record, its sign-off and its timeline, in order."""

    model_config = ConfigDict(extra="forbid")

    approvals: list[Approval]
    approval_requests: list[ApprovalRequestView]
    timeline: list[TimelineEvent]


class TimelineHead(Answer):
    sequence: int = Field(description="the number of the launch's last event, as its record keeps it")
    digest: str | None = Field(description="that event's digest, as its record keeps it")


class EvidenceAnswer(Answer):
    """A launch's whole record as one document an auditor checks offline (`launchctl evidence verify FILE`)."""

    format: Literal["launch-evidence/1"] = EVIDENCE_FORMAT
    launch_id: str
    exported_at: Moment
    environment: str
    status: LaunchStatus
    profile_version: int | None = Field(description="the version of the stored profile the launch followed")
    record: Launch = Field(description="the launch's record as stored (its seal is below)")
    preflight: PreflightProgress | None = Field(description="the preflight report and its checks")
    approvals: list[Approval] = Field(description="each role's decision, with the verified caller who made it")
    approval_requests: list[ApprovalRequestView]
    timeline: list[ChainedEvent] = Field(description="every event in order, each with its digest and the one before")
    head: TimelineHead
    seal: Seal | None = Field(description="the chain's head at the end, signed with the controller's evidence key")


class DecisionAnswer(Answer):
    launch_id: str
    role: str
    decision: Literal["approved", "rejected"]
    decided_by: str = Field(description="the person, proven by the link or the verified caller")
    caller: Caller | None = Field(description="via the API: the verified identity that proved the person")
    gate: Literal["rejected", "approved", "waiting"] = Field(description="what the gate did with this decision")
    approvals: dict[str, Literal["approved", "rejected", "pending"]]


class AbortAnswer(LaunchSummary):
    abort_requested: Literal[True]
    already_requested: bool = Field(description="an abort was asked for before: its reason is the one kept")
    abort: dict[str, Any] = Field(description="who asked (verified), why and when: the first request")
    then: str = Field(description="what the launch does next")


class RollbackAnswer(LaunchSummary):
    rollback_of: str = Field(description="the launch this execution rolls back")
    caller: dict[str, Any] | None = Field(description="the verified identity that asked")


class UnlockAnswer(Answer):
    environment: str
    unlocked: Literal[True]
    was_held_by: str
    launch_status: LaunchStatus | None
    held_because: str | None
    unlocked_by: str
    caller: dict[str, Any]
    reason: str
