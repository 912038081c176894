"""The stage table: every checklist stage the state machine calls, what it enters and what it needs.

Adding a stage is one module, one row here, one Lambda in stages/lambdas.py and one ASL state (see
docs/adding-a-stage.md). The waits share one function (`await_event`), which runs the row the state names."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalicelib.checks.services import PREFLIGHT_OWN_SERVICES, PREFLIGHT_SERVICES
from chalicelib.domain.models import (
    ApprovalGateEvent,
    CheckpointEvent,
    FinishEvent,
    Launch,
    LaunchStatus,
    Stage,
    WaitEvent,
)
from chalicelib.domain.progress import Progress
from chalicelib.stages.harness import StageCall, StageSpec
from chalicelib.stages.lifecycle import after_begin
from chalicelib.stages.wait_kinds import WAIT_KINDS, WaitRow

if TYPE_CHECKING:
    from chalicelib.platform.chat import ChatNotification
    from chalicelib.platform.settings import Settings
    from chalicelib.stages.copy_batches import Batches
    from chalicelib.stages.wait_outcomes import Sighting

# Every wait runs in one function: it opens a wait or looks at its deadline, whatever the resource.
WAIT_FUNCTION = "await_event"


def wait_row(kind: str) -> str:
    """The stage table's row for a wait of `kind`."""
    return f"wait_for_{kind}"


def launch_page_link(settings: Settings, client: Callable[[str], Any], launch_id: str) -> str:
    """The launch page's view link for a message, when the deployment says where its API is."""
    from chalicelib.platform.links import signing_key, view_link

    if not settings.public_api_url:
        return ""
    key = signing_key(client("secretsmanager"), settings.approval_key_secret_id)
    return view_link(key, settings.public_api_url, launch_id)


def _announce(call: StageCall, note: ChatNotification) -> None:
    """To the team's channel (the notifications topic), when the deployment has one."""
    from chalicelib.platform import chat

    if call.settings.notifications_topic_arn:
        chat.publish(call.client("sns"), call.settings.notifications_topic_arn, note)


def _begin(call: StageCall) -> Progress:
    from chalicelib.platform import chat
    from chalicelib.stages.lifecycle import begin_launch

    progress = begin_launch(call.store, call.launch, call.profile)
    if not call.launch.rollback_of:
        _announce(call, chat.started(call.launch))
    return progress


def _preflight(call: StageCall) -> Progress:
    from chalicelib.checks.release import app_reader
    from chalicelib.stages.preflight import preflight_stage

    # The checks fan out over many services: they take the declared clients as a factory. The GitHub App's
    # credential is the controller's own secret, not the environment's.
    github = app_reader(
        lambda: call.controller_client("secretsmanager"), call.settings.github_app_secret_id, call.profile
    )
    return preflight_stage(
        call.store, call.launch, call.profile, call.client, call.settings.notifications_topic_arn, github
    )


def _request_approvals(call: StageCall) -> Progress:
    from chalicelib.platform import chat
    from chalicelib.platform.links import signing_key, view_link
    from chalicelib.stages.approval_gate import request_approvals

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
    page = view_link(key, settings.public_api_url, call.launch.launch_id) if settings.public_api_url else ""
    _announce(call, chat.awaiting_approval(call.launch, call.profile, expires_at, page))
    return progress


def _record_rollback_point(call: StageCall) -> Progress:
    from chalicelib.stages.rollback_point import record_rollback_point

    return record_rollback_point(
        call.store,
        call.launch,
        call.profile,
        call.client("ecs"),
        call.client("s3"),
        call.client("rds"),
        _batches(call),
        call.event.after_batches,
    )


def _batches(call: StageCall) -> Batches | None:
    """Where the stage plans copies for the state machine's batches: the controller's bucket, with its own
    client (the copies themselves are made in the environment, as its role)."""
    from chalicelib.stages.copy_batches import Batches

    bucket = call.settings.copy_plan_bucket
    if not bucket:
        return None
    frontend = call.profile.frontend
    return Batches(call.controller_client("s3"), bucket, frontend.batch_copies_above, frontend.copies_per_batch)


def _deploy_frontend(call: StageCall) -> Progress:
    from chalicelib.stages.frontend import deploy_frontend

    return deploy_frontend(
        call.store,
        call.launch,
        call.profile,
        call.client("s3"),
        call.client("cloudfront"),
        _batches(call),
        call.event.after_batches,
    )


def _deploy_backend(call: StageCall) -> Progress:
    from chalicelib.stages.backend import deploy_backend

    return deploy_backend(call.store, call.launch, call.profile, call.client("ecs"))


def _smoke_test(call: StageCall) -> Progress:
    """The smoke checks, then the functional tests' canaries started (their runs are waited for next)."""
    from chalicelib.stages.functional import start_canaries
    from chalicelib.stages.smoke import run_smoke

    smoke = run_smoke(call.store, call.launch, call.profile, call.client("secretsmanager"))
    if call.profile.functional is None:
        return smoke
    return start_canaries(call.store, call.launch, call.profile, smoke, call.client("synthetics"))


def _begin_bake(call: StageCall) -> Progress:
    from chalicelib.stages.bake import begin_bake

    return begin_bake(call.store, call.launch, call.profile, call.client("cloudwatch"))


def _bake_checkpoint(call: StageCall) -> Progress:
    """A checkpoint's figures, written before the last one ends the alarm watch (the launch goes on then)."""
    from chalicelib.platform import chat
    from chalicelib.stages.bake import pass_checkpoint
    from chalicelib.stages.wait_outcomes import Outcome
    from chalicelib.stages.waits import settle

    assert isinstance(call.event, CheckpointEvent)
    progress = pass_checkpoint(
        call.store, call.launch, call.profile, call.client("cloudwatch"), call.event.offset_seconds
    )
    call.store.write_progress(call.launch, progress=progress, kept_under=Stage.BAKE)
    passed = next(c for c in progress.checkpoints if c.offset_seconds == call.event.offset_seconds)
    figures = passed.model_dump(mode="json", exclude={"offset_seconds", "label", "at"}, exclude_none=True)
    _announce(call, chat.checkpoint(call.launch, passed.label, figures, progress.verdict == "healthy"))
    watch = call.store.open_wait_of(call.launch.launch_id)
    if progress.verdict == "healthy" and watch is not None and watch.kind == "alarms":
        ended = Outcome(verdict="done", reason="no alarm fired by the last checkpoint", progress=progress)
        settle(call.store, call.client("stepfunctions"), watch, ended, "the last checkpoint passed")
    return progress


def _wait(row: WaitRow) -> Callable[[StageCall], Progress]:
    """A wait's row: opens the wait and looks once, or, called without a token at the deadline, looks a last time."""

    def run(call: StageCall) -> Progress:
        from chalicelib.stages.waits import at_deadline, begin_wait

        event = call.event
        assert isinstance(event, WaitEvent)

        def look() -> Sighting:
            return row.look(call.launch, call.profile, call.client(row.service))

        sighting = look()
        if event.task_token is None:
            stop = row.stop
            overrun = (lambda: stop(call.launch, call.profile, call.client(row.service))) if stop else None
            return at_deadline(call.store, call.launch, row.kind, sighting, overrun)
        sfn = call.client("stepfunctions")
        outcome = begin_wait(
            call.store, sfn, call.launch, row.kind, event.task_token, event.deadline_seconds, sighting, look
        )
        return outcome.progress or Progress()

    return run


def _roll_back(call: StageCall) -> Progress:
    from chalicelib.stages.rollback import roll_back

    return roll_back(
        call.store,
        call.launch,
        call.profile,
        call.client("ecs"),
        call.client("s3"),
        call.client("cloudfront"),
        call.client("rds"),
        _batches(call),
        call.event.after_batches,
    )


def _finish(call: StageCall) -> Progress:
    from chalicelib.stages.lifecycle import finish_launch

    assert isinstance(call.event, FinishEvent)
    error = call.event.error
    caught = {"Error": error.Error, "Cause": error.Cause or ""} if error else None
    return finish_launch(
        call.store,
        call.launch,
        call.event.outcome,
        caught,
        call.client("sns"),
        call.settings.notifications_topic_arn,
        lambda: call.client("cloudwatch"),
        call.settings.paging_topic_arn,
        launch_page_link(call.settings, call.client, call.launch.launch_id),
    )


def _awaiting_approval(_: Launch) -> tuple[LaunchStatus, Stage]:
    return LaunchStatus.AWAITING_APPROVAL, Stage.APPROVALS


STAGES: dict[str, StageSpec] = {
    spec.name: spec
    for spec in [
        StageSpec("begin_launch", Stage.START, _begin, exits=after_begin, own_clients=("sns",)),
        StageSpec(
            "preflight",
            Stage.PREFLIGHT,
            _preflight,
            clients=PREFLIGHT_SERVICES,
            # and the GitHub App's credential, a secret of the controller's (`call.controller_client`)
            own_clients=(*PREFLIGHT_OWN_SERVICES, "secretsmanager"),
        ),
        StageSpec(
            "request_approvals",
            Stage.APPROVALS,
            _request_approvals,
            exits=_awaiting_approval,
            own_clients=("sns", "secretsmanager"),
            event=ApprovalGateEvent,
        ),
        StageSpec(
            "record_rollback_point",
            Stage.ROLLBACK_POINT,
            _record_rollback_point,
            enters=LaunchStatus.DEPLOYING,
            honours_abort=False,  # it changes nothing; the next stage, the first change, honours an abort
            clients=("ecs", "s3", "rds"),
            own_clients=("s3",),  # its copy plans, in the controller's bucket
        ),
        StageSpec(
            "deploy_frontend",
            Stage.FRONTEND,
            _deploy_frontend,
            enters=LaunchStatus.DEPLOYING,
            clients=("s3", "cloudfront"),
            own_clients=("s3",),
        ),
        StageSpec("deploy_backend", Stage.BACKEND, _deploy_backend, enters=LaunchStatus.DEPLOYING, clients=("ecs",)),
        StageSpec(
            "smoke_test",
            Stage.SMOKE,
            _smoke_test,
            enters=LaunchStatus.VERIFYING,
            clients=("secretsmanager", "synthetics"),
        ),
        StageSpec("begin_bake", Stage.BAKE, _begin_bake, enters=LaunchStatus.BAKING, clients=("cloudwatch",)),
        StageSpec(
            "bake_checkpoint",
            Stage.BAKE,
            _bake_checkpoint,
            clients=("cloudwatch",),
            own_clients=("stepfunctions", "sns"),
            event=CheckpointEvent,
            persists=False,
        ),
        *[
            StageSpec(
                wait_row(row.kind),
                row.stage,
                _wait(row),
                honours_abort=row.honours_abort,
                clients=(row.service,),
                own_clients=("stepfunctions",),
                event=WaitEvent,
                function=WAIT_FUNCTION,
                persists=False,
            )
            for row in WAIT_KINDS.values()
        ],
        StageSpec(
            "roll_back",
            Stage.ROLLBACK,
            _roll_back,
            enters=LaunchStatus.ROLLING_BACK,
            honours_abort=False,  # undoing is what an abort asks for
            clients=("ecs", "s3", "cloudfront", "rds"),
            own_clients=("s3",),
        ),
        StageSpec(
            "finish_launch",
            Stage.FINISH,
            _finish,
            honours_abort=False,
            clients=("cloudwatch",),  # the launch's own alarms go with it
            own_clients=("sns", "secretsmanager"),
            event=FinishEvent,
        ),
    ]
}
