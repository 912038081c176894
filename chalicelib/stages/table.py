"""The stage table: every checklist stage the state machine calls, what it enters and what it needs.

Adding a stage is one module, one row here, one Lambda line in app.py and one ASL state."""

from __future__ import annotations

from chalicelib.models import ApprovalGateEvent, FinishEvent, Launch, LaunchStatus, Stage
from chalicelib.progress import Progress
from chalicelib.stages.harness import StageCall, StageSpec
from chalicelib.stages.lifecycle import after_begin

# Every service a preflight check reads in the environment (ACM: in us-east-1, where CloudFront's
# certificates live; STS: who the environment's role is), and in the controller's account (its topics).
PREFLIGHT_SERVICES = (
    "acm",
    "cloudfront",
    "cloudwatch",
    "ec2",
    "ecr",
    "ecs",
    "elbv2",
    "logs",
    "rds",
    "s3",
    "secretsmanager",
    "sts",
)
PREFLIGHT_OWN_SERVICES = ("sns",)


def _begin(call: StageCall) -> Progress:
    from chalicelib.stages.lifecycle import begin_launch

    return begin_launch(call.store, call.launch, call.profile)


def _preflight(call: StageCall) -> Progress:
    from chalicelib.stages.preflight import preflight_stage

    # The checks fan out over many services: they take the declared clients as a factory.
    return preflight_stage(call.store, call.launch, call.profile, call.client, call.settings.notifications_topic_arn)


def _request_approvals(call: StageCall) -> Progress:
    from chalicelib.approvals import request_approvals
    from chalicelib.links import signing_key

    assert isinstance(call.event, ApprovalGateEvent)
    settings = call.settings
    return request_approvals(
        call.store,
        call.launch,
        call.profile,
        call.event.task_token,
        call.client("sns"),
        settings.approvals_topic_arn,
        settings.public_api_url,
        signing_key(call.client("secretsmanager"), settings.approval_key_secret_id),
    )


def _record_rollback_point(call: StageCall) -> Progress:
    from chalicelib.stages.rollback_point import record_rollback_point

    return record_rollback_point(
        call.store, call.launch, call.profile, call.client("ecs"), call.client("s3"), call.client("rds")
    )


def _deploy_frontend(call: StageCall) -> Progress:
    from chalicelib.stages.frontend import deploy_frontend

    return deploy_frontend(call.store, call.launch, call.profile, call.client("s3"), call.client("cloudfront"))


def _deploy_backend(call: StageCall) -> Progress:
    from chalicelib.stages.backend import deploy_backend

    return deploy_backend(call.store, call.launch, call.profile, call.client("ecs"))


def _check_backend(call: StageCall) -> Progress:
    from chalicelib.stages.backend import check_backend

    return check_backend(call.store, call.launch, call.profile, call.client("ecs"))


def _smoke_test(call: StageCall) -> Progress:
    from chalicelib.stages.smoke import run_smoke

    return run_smoke(call.store, call.launch, call.profile, call.client("secretsmanager"))


def _bake_check(call: StageCall) -> Progress:
    from chalicelib.stages.bake import check_bake

    return check_bake(call.store, call.launch, call.profile, call.client("cloudwatch"))


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
    )


def _finish(call: StageCall) -> Progress:
    from chalicelib.stages.lifecycle import finish_launch

    assert isinstance(call.event, FinishEvent)
    error = call.event.error
    caught = {"Error": error.Error, "Cause": error.Cause or ""} if error else None
    return finish_launch(
        call.store, call.launch, call.event.outcome, caught, call.client("sns"), call.settings.notifications_topic_arn
    )


def _awaiting_approval(_: Launch) -> tuple[LaunchStatus, Stage]:
    return LaunchStatus.AWAITING_APPROVAL, Stage.APPROVALS


STAGES: dict[str, StageSpec] = {
    spec.name: spec
    for spec in [
        StageSpec("begin_launch", Stage.START, _begin, exits=after_begin),
        StageSpec(
            "preflight", Stage.PREFLIGHT, _preflight, clients=PREFLIGHT_SERVICES, own_clients=PREFLIGHT_OWN_SERVICES
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
        ),
        StageSpec(
            "deploy_frontend",
            Stage.FRONTEND,
            _deploy_frontend,
            enters=LaunchStatus.DEPLOYING,
            clients=("s3", "cloudfront"),
        ),
        StageSpec("deploy_backend", Stage.BACKEND, _deploy_backend, enters=LaunchStatus.DEPLOYING, clients=("ecs",)),
        StageSpec("check_backend", Stage.BACKEND, _check_backend, clients=("ecs",)),
        StageSpec("smoke_test", Stage.SMOKE, _smoke_test, enters=LaunchStatus.VERIFYING, clients=("secretsmanager",)),
        StageSpec("bake_check", Stage.BAKE, _bake_check, enters=LaunchStatus.BAKING, clients=("cloudwatch",)),
        StageSpec(
            "roll_back",
            Stage.ROLLBACK,
            _roll_back,
            enters=LaunchStatus.ROLLING_BACK,
            honours_abort=False,  # undoing is what an abort asks for
            clients=("ecs", "s3", "cloudfront", "rds"),
        ),
        StageSpec("finish_launch", Stage.FINISH, _finish, honours_abort=False, own_clients=("sns",), event=FinishEvent),
    ]
}
