"""Starting, reading and listing launches: what the API does, as plain functions."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from chalicelib.api.answers import (
    AbortAnswer,
    ApprovalRequestView,
    EvidenceAnswer,
    LaunchDetail,
    LaunchPage,
    LaunchSummary,
    TimelineHead,
    UnlockAnswer,
)
from chalicelib.api.approvals import abort_at_gate
from chalicelib.api.callers import authorise_launch, authorise_person, identify, people_behind
from chalicelib.domain.clock import iso
from chalicelib.domain.errors import BadRequest
from chalicelib.domain.models import (
    AbortRequest,
    Caller,
    Launch,
    LaunchRequest,
    LaunchStatus,
    ListQuery,
    RollbackRequest,
    Stage,
    UnlockRequest,
    profile_of,
)
from chalicelib.domain.profiles import EnvironmentProfile, UnknownEnvironment
from chalicelib.platform import telemetry
from chalicelib.platform.profile_store import current_profile, known_environments, load_profile
from chalicelib.store import (
    EnvironmentLocked,
    LaunchHasEnded,
    LaunchNotFound,
    LaunchStore,
    NotLocked,
    RollbackAlreadyClaimed,
)


class LaunchStillRunning(Exception):
    """The lock belongs to a launch that has not ended; it releases the lock itself."""


def new_launch_id(environment: str, moment: datetime) -> str:
    """Readable, sortable, unique, and valid as a Step Functions execution name."""
    return f"{environment}-{moment.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def new_launch(request: LaunchRequest, caller: Caller, moment: datetime, **recorded: Any) -> Launch:
    """A launch record as a verified (and identified) caller asks for it, in REQUESTED, not yet stored."""
    return Launch(
        launch_id=new_launch_id(request.environment, moment),
        request=request,
        requested_by=caller.who,
        caller=caller,
        status=LaunchStatus.REQUESTED,
        stage=Stage.START,
        created_at=moment,
        updated_at=moment,
        **recorded,
    )


def ensure_environment_free(store: LaunchStore, environment: str, sfn: Any) -> None:
    """EnvironmentLocked unless nobody holds the environment, or its holder's lease ran out AND its
    execution has ended: a lease only frees the lock of a launch that cannot release it any more."""
    lock = store.lock(environment)
    if lock is None:
        return
    holder = lock.owner
    if not lock.lease_ran_out(store.clock.now()):
        raise EnvironmentLocked(environment, holder, lock.held_because)
    try:
        stale: Launch | None = store.get_launch(holder)
    except LaunchNotFound:
        stale = None
    if stale is not None and stale.execution_arn:
        execution = sfn.describe_execution(executionArn=stale.execution_arn)
        if execution["status"] == "RUNNING":
            raise EnvironmentLocked(environment, holder, "its lease ran out but its execution is still running")
        store.append_event(
            holder,
            "lock_taken_over",
            f"its lease on {environment} ran out after its execution ended {execution['status']}; a new launch "
            "may take the environment",
            stage=Stage.FINISH,
            details={"lease_expires_at": iso(lock.lease_expires_at), "execution_status": execution["status"]},
        )


def start_launch(
    store: LaunchStore, request: LaunchRequest, caller: Caller, sfn: Any, state_machine_arn: str
) -> Launch:
    """Record the launch holding its environment, and start its execution (named after the launch)."""
    # Read afresh: a push is in force for the next launch, and a caller removed from it is refused at once.
    stored = current_profile(request.environment, fresh=True)
    profile = stored.profile
    authorise_launch(caller, profile, "start")
    published_for(profile, request.frontend_artifact)
    promoted_for(store, profile, request.promote_from)
    if request.emergency_reason is not None and (profile.windows is None or profile.windows.emergency is None):
        raise BadRequest(
            "emergency_reason",
            f"{profile.name} takes no emergency launches: its profile names no [windows.emergency] role to sign "
            "them off",
        )
    caller = identify(caller, profile)
    launch = new_launch(
        request,
        caller,
        store.clock.now(),
        requesters=people_behind(caller, profile),
        profile=profile,
        profile_version=stored.version,
    )
    ensure_environment_free(store, request.environment, sfn)
    # The record, its first event and the lock are one write: a start that loses the race leaves nothing.
    store.create_launch(
        launch,
        events=[
            store.event(
                "requested",
                f"{caller.who} asked to launch {request.version} ({request.git_sha[:12]}) into {request.environment}",
                Stage.START,
                details={"caller": caller.model_dump(mode="json"), "requesters": launch.requesters},
            )
        ],
        lock_lease_seconds=profile.lock_lease_seconds,
    )

    telemetry.launch_started(request.environment, launch.launch_id)
    return _start_execution(store, launch, sfn, state_machine_arn, "launch")


def published_for(profile: EnvironmentProfile, frontend_artifact: str | None) -> None:
    """A release's frontend goes to the public site, so it comes from the environment's artifact bucket only."""
    bucket = profile.frontend.artifact_bucket
    if frontend_artifact is not None and not frontend_artifact.startswith(f"s3://{bucket}/"):
        raise BadRequest("frontend_artifact", f"must be in the {profile.name} artifact bucket, s3://{bucket}/")


def promoted_for(store: LaunchStore, profile: EnvironmentProfile, promote_from: str | None) -> None:
    """A launch names the launch it is promoted from only where the profile takes promotions, and one into the
    environment it takes them from: the caller's mistake, refused at once. Preflight judges the rest (how that
    launch ended, when, and whether it deployed exactly this release)."""
    if promote_from is None:
        return
    if profile.promotion is None:
        raise BadRequest("promote_from", f"{profile.name} takes no promotions: its profile has no [promotion]")
    try:
        source = store.get_launch(promote_from)
    except LaunchNotFound:
        raise BadRequest("promote_from", f"no launch {promote_from}") from None
    if source.request.environment != profile.promotion.from_:
        raise BadRequest(
            "promote_from",
            f"{promote_from} launched into {source.request.environment}; {profile.name} takes releases launched "
            f"into {profile.promotion.from_}",
        )


def _start_execution(store: LaunchStore, launch: Launch, sfn: Any, state_machine_arn: str, mode: str) -> Launch:
    """Start the launch's execution (named after it); if it cannot start, end the launch and free the lock."""
    try:
        execution = sfn.start_execution(
            stateMachineArn=state_machine_arn,
            name=launch.launch_id,
            input=json.dumps({"launch_id": launch.launch_id, "mode": mode}),
        )
    except Exception as exc:
        error = {"error": type(exc).__name__, "cause": str(exc)}
        store.set_status(launch.launch_id, LaunchStatus.FAILED, error=error, current=launch)
        store.release_lock(launch.request.environment, launch.launch_id)
        store.append_event(launch.launch_id, "finished", f"the execution could not start: {exc}", stage=Stage.START)
        raise
    store.set_execution(launch.launch_id, execution["executionArn"])
    return launch.model_copy(update={"execution_arn": execution["executionArn"]})


def describe_launch(store: LaunchStore, launch_id: str) -> dict[str, Any]:
    """The launch as an engineer wants to read it: status, stage, results, approvals, timeline."""
    launch, approvals, requests, timeline = store.launch_history(launch_id)
    detail = LaunchDetail(
        **dict(launch),
        approvals=approvals,
        approval_requests=[ApprovalRequestView.of(request) for request in requests],
        timeline=timeline,
    )
    return detail.model_dump(mode="json")


def launch_evidence(store: LaunchStore, launch_id: str, public_key: Callable[[str], bytes | None]) -> dict[str, Any]:
    """The launch's whole record as one JSON document an auditor can check offline (`launchctl evidence verify`):
    the record, the approvals with their verified callers, the preflight report and checks, the profile
    version, the timeline with each event's digest and the one it follows, the record's head and the seal.

    `public_key(key_arn)` is the evidence key's public half (DER), carried so the document checks on its own;
    pinning the controller's key (docs/evidence.md) proves who sealed it."""
    launch, approvals, requests, chain, head = store.evidence_parts(launch_id)
    seal = launch.seal
    if seal is not None:
        found = public_key(seal.key_arn)
        if found is not None:
            seal = seal.model_copy(update={"public_key": base64.b64encode(found).decode()})
    evidence = EvidenceAnswer(
        launch_id=launch_id,
        exported_at=store.clock.now(),
        environment=launch.request.environment,
        status=launch.status,
        profile_version=launch.profile_version,
        record=launch.model_copy(update={"seal": None}),
        preflight=launch.results.preflight,
        approvals=approvals,
        approval_requests=[ApprovalRequestView.of(request) for request in requests],
        timeline=chain,
        head=TimelineHead.model_validate(head),
        seal=seal,
    )
    return evidence.model_dump(mode="json")


def summary(launch: Launch) -> dict[str, Any]:
    return LaunchSummary.of(launch).body()


def unlock_environment(store: LaunchStore, environment: str, request: UnlockRequest, caller: Caller) -> dict[str, Any]:
    """Release a lock left held (after ROLLBACK_FAILED), writing who did it and why on the launch's timeline."""
    profile = load_profile(environment, fresh=True)
    authorise_launch(caller, profile, "unlock")
    caller = authorise_person(caller, profile, "unlocking an environment")
    lock = store.lock(environment)
    if lock is None:
        raise NotLocked(f"environment {environment!r} is not locked")
    holder = lock.owner
    try:
        launch: Launch | None = store.get_launch(holder)
    except LaunchNotFound:
        launch = None
    if launch is not None and not launch.status.is_final:
        raise LaunchStillRunning(
            f"launch {holder} is {launch.status} and holds {environment!r}; it releases the lock when it ends"
        )
    if not store.release_lock(environment, holder):
        raise NotLocked(f"environment {environment!r} was unlocked meanwhile")
    verified = caller.model_dump(mode="json")
    if launch is not None:
        store.append_event(
            holder,
            "unlocked",
            f"{caller.who} unlocked {environment}: {request.reason}",
            stage=Stage.FINISH,
            details={
                "unlocked_by": caller.who,
                "caller": verified,
                "reason": request.reason,
                "held_because": lock.held_because or None,
            },
        )
    return UnlockAnswer(
        environment=environment,
        unlocked=True,
        was_held_by=holder,
        launch_status=launch.status if launch else None,
        held_because=lock.held_because or None,
        unlocked_by=caller.who,
        caller=verified,
        reason=request.reason,
    ).body()


def abort_launch(store: LaunchStore, launch_id: str, request: AbortRequest, caller: Caller, sfn: Any) -> dict[str, Any]:
    """Ask a running launch to stop. Before any change it ends ABORTED; after one, it rolls back.

    A launch waiting (at the approval gate, on AWS's event, through the bake) is released at once; one
    between stages is stopped by the next stage to start. Only the first request is recorded: a repeated
    one answers with the first one's reason and writes nothing."""
    launch = store.get_launch(launch_id)
    profile = load_profile(launch.request.environment, fresh=True)
    authorise_launch(caller, profile, "abort")
    caller = identify(caller, profile)
    if launch.rollback_of and not launch.status.is_final:
        raise NotRollbackable(f"{launch_id} is a rollback; stopping it half-way would leave the environment mixed")
    if launch.status.is_final:
        raise LaunchHasEnded(f"launch {launch_id} has already ended ({launch.status})")
    abort = {
        "aborted_by": caller.who,
        "caller": caller.model_dump(mode="json"),
        "reason": request.reason,
        "at": store.clock.now().isoformat(),
    }
    event = store.event(
        "abort_requested",
        f"{caller.who} asked to abort: {request.reason}",
        launch.stage,
        details={"changes_so_far": list(launch.changes), "caller": abort["caller"]},
    )
    first = store.request_abort(launch_id, abort, event)
    recorded = first or abort
    if launch.status == LaunchStatus.AWAITING_APPROVAL:
        # Again on a repeat: releasing the gate is idempotent (and writes nothing once done), so a first
        # request cut off before it released the execution does not leave it waiting out its timeout.
        abort_at_gate(store, launch_id, f"aborted by {recorded['aborted_by']}: {recorded['reason']}", sfn)
    elif launch.status != LaunchStatus.ROLLING_BACK:  # undoing is what an abort asks for: it is not stopped
        from chalicelib.stages.waits import abort_open_wait  # the waits load five stages: only for an abort

        abort_open_wait(store, sfn, launch_id, f"aborted by {recorded['aborted_by']}: {recorded['reason']}")
    return AbortAnswer(
        **dict(LaunchSummary.of(launch)),
        abort_requested=True,
        already_requested=first is not None,
        abort=recorded,
        then="rolls back what it changed" if launch.changes else "ends ABORTED with nothing changed",
    ).body()


class NotRollbackable(Exception):
    """The launch cannot be rolled back on request: not succeeded, too old, superseded or already rolled back."""


def start_rollback(
    store: LaunchStore, launch_id: str, request: RollbackRequest, caller: Caller, sfn: Any, state_machine_arn: str
) -> Launch:
    """Roll the environment back to a succeeded launch's rollback point, as its own recorded execution.

    The execution undoes exactly what the launch changed (its rollback point and changes are copied
    into the new record), holds the environment's lock meanwhile, and ends ROLLED_BACK or ROLLBACK_FAILED."""
    target = store.get_launch(launch_id)
    environment = target.request.environment
    profile = load_profile(environment, fresh=True)
    authorise_launch(caller, profile, "roll back")
    if target.status != LaunchStatus.SUCCEEDED:
        raise NotRollbackable(f"launch {launch_id} is {target.status}; only a launch that succeeded is rolled back")
    if target.rolled_back_by:
        raise NotRollbackable(f"launch {launch_id} was already rolled back by {target.rolled_back_by}")
    closes = target.updated_at + timedelta(seconds=profile.rollback_window_seconds)
    if store.clock.now() > closes:
        raise NotRollbackable(
            f"launch {launch_id} succeeded more than {profile.rollback_window_seconds} s ago (the window closed at "
            f"{closes.isoformat(timespec='seconds')}); launch the previous version instead"
        )
    succeeded, _ = store.list_launches(20, environment=environment, status=LaunchStatus.SUCCEEDED)
    live = next((launch for launch in succeeded if not launch.rolled_back_by), None)
    if live is not None and live.launch_id != launch_id:
        raise NotRollbackable(
            f"launch {live.launch_id} ({live.request.version}) succeeded in {environment} after "
            f"{launch_id}; roll that one back first"
        )
    if not target.changes or target.rollback_point is None:
        raise NotRollbackable(f"launch {launch_id} recorded no change to undo")
    ensure_environment_free(store, environment, sfn)
    caller = identify(caller, profile)
    verified = caller.model_dump(mode="json")
    undone_in = profile_of(target)
    rollback = new_launch(
        target.request,
        caller,
        store.clock.now(),
        rollback_point=target.rollback_point,
        changes=target.changes,
        # Whether the database is restored depends on the migration task the launch started.
        migration_task_arn=target.migration_task_arn,
        # It undoes what the launch changed, in the places the launch's own profile named.
        profile=undone_in,
        profile_version=target.profile_version,
        rollback_of={
            "launch_id": launch_id,
            "version": target.request.version,
            "requested_by": caller.who,
            "caller": verified,
            "reason": request.reason,
            "at": store.clock.now().isoformat(),
        },
    )
    requested = store.event(
        "requested",
        f"{caller.who} asked to roll back launch {launch_id} ({target.request.version}): {request.reason}",
        Stage.START,
        details={
            "rollback_of": launch_id,
            "changes": [str(change) for change in target.changes],
            "caller": verified,
        },
    )
    claimed = store.event(
        "rollback_requested",
        f"{caller.who} asked to roll this launch back: {request.reason}; execution {rollback.launch_id}",
        Stage.FINISH,
        details={"rollback_launch_id": rollback.launch_id, "caller": verified},
    )
    # The record, the lock and the claim on the launch it undoes are one write: a lost race leaves nothing.
    try:
        store.create_launch(
            rollback, [requested], lock_lease_seconds=profile.lock_lease_seconds, rollback_of=(launch_id, claimed)
        )
    except RollbackAlreadyClaimed as exc:
        raise NotRollbackable(f"launch {launch_id} is being rolled back by another request") from exc
    return _start_execution(store, rollback, sfn, state_machine_arn, "rollback")


CURSOR_KEYS = ("pk", "sk", "gsi1pk", "gsi1sk")


def encode_cursor(key: dict[str, Any] | None) -> str | None:
    if key is None:
        return None
    return base64.urlsafe_b64encode(json.dumps({k: key[k]["S"] for k in CURSOR_KEYS}).encode()).decode()


def decode_cursor(cursor: str) -> dict[str, Any]:
    """The index key a cursor names; BadRequest for anything this API did not hand out."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(raw, dict) or set(raw) != set(CURSOR_KEYS) or raw["gsi1pk"] != "LAUNCH":
            raise ValueError("not a launch cursor")
        return {k: {"S": str(raw[k])} for k in CURSOR_KEYS}
    except (ValueError, TypeError, binascii.Error) as exc:
        raise BadRequest("cursor", "is not a cursor this API returned") from exc


def list_launches(store: LaunchStore, query: ListQuery) -> dict[str, Any]:
    """A page of launches, newest first, and the cursor of the next page (null on the last)."""
    launches, key = store.list_launches(
        query.limit,
        environment=query.environment,
        status=query.status,
        after=decode_cursor(query.cursor) if query.cursor else None,
    )
    if query.environment and not launches and not query.cursor and query.environment not in known_environments():
        # Nothing listed because nothing could be: a misspelt environment is said, not shown as "no launches".
        raise UnknownEnvironment(
            f"no environment named {query.environment!r}; known: {', '.join(known_environments()) or 'none'}"
        )
    return LaunchPage(launches=[LaunchSummary.of(launch) for launch in launches], next_cursor=encode_cursor(key)).body()


IDEMPOTENCY_WINDOW_SECONDS = 24 * 3600  # a GitHub job's re-runs come within hours


class IdempotencyKeyReused(Exception):
    """The Idempotency-Key was used before with a different request."""


class IdempotentRequestInProgress(Exception):
    """A request with this Idempotency-Key is being handled right now; retry shortly."""


def start_launch_once(
    store: LaunchStore,
    request: LaunchRequest,
    caller: Caller,
    idempotency_key: str,
    sfn: Any,
    state_machine_arn: str,
    table_name: str,
    dynamodb: Any,
    lambda_context: Any = None,
) -> tuple[dict[str, Any], bool]:
    """Start a launch once per Idempotency-Key (Powertools idempotency on the launch table);
    (the launch's summary, whether this answer repeats an earlier one)."""
    # Powertools idempotency (and its persistence layer): only for a start that carries an Idempotency-Key.
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

    replayed = False

    def mark_replay(response: Any, idempotent_data: DataRecord) -> Any:
        nonlocal replayed
        replayed = True
        return response

    persistence = DynamoDBPersistenceLayer(
        table_name=table_name,
        key_attr="pk",
        sort_key_attr="sk",
        static_pk_value="IDEMPOTENCY#start_launch",
        expiry_attr="expires_at_epoch",
        boto3_client=dynamodb,
    )
    config = IdempotencyConfig(
        event_key_jmespath="key",
        payload_validation_jmespath="request",
        expires_after_seconds=IDEMPOTENCY_WINDOW_SECONDS,
        response_hook=mark_replay,
    )
    if lambda_context is not None:
        # A request cut off by the Lambda timeout frees its key when that time is up, not an hour later.
        config.register_lambda_context(lambda_context)

    def start(call: dict[str, Any]) -> dict[str, Any]:
        return summary(start_launch(store, request, caller, sfn, state_machine_arn))

    once = idempotent_function(
        start, data_keyword_argument="call", persistence_store=persistence, config=config, key_prefix="start_launch"
    )
    try:
        # A key is the caller's own: another caller's same key is another request.
        scoped = f"{caller.kind}:{caller.subject}:{idempotency_key}"
        answer = once(call={"key": scoped, "request": request.model_dump(mode="json")})
    except IdempotencyValidationError as exc:
        raise IdempotencyKeyReused(
            f"Idempotency-Key {idempotency_key!r} was used with a different request; use a new key"
        ) from exc
    except IdempotencyAlreadyInProgressError as exc:
        raise IdempotentRequestInProgress(
            f"a request with Idempotency-Key {idempotency_key!r} is in progress; retry in a few seconds"
        ) from exc
    return answer, replayed
