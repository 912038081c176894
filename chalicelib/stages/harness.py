"""Runs one stage of a launch the same way every time: load once, honour an abort, work, persist once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from chalicelib.domain.errors import LaunchAborted, LaunchError
from chalicelib.domain.models import Launch, LaunchStatus, Stage, StageEvent, TimelineEvent, profile_of
from chalicelib.domain.profiles import EnvironmentProfile
from chalicelib.domain.progress import Progress
from chalicelib.platform import aws, chat, lark, telemetry
from chalicelib.platform.log import about, begin_invocation, logger
from chalicelib.platform.settings import Settings, settings
from chalicelib.platform.wiring import environment_of, launch_store
from chalicelib.store import LaunchHasEnded, LaunchStore, StatusConflict

if TYPE_CHECKING:
    from chalicelib.platform.chat import ChatNotification

Entry = tuple[LaunchStatus, Stage]


class UndeclaredClient(RuntimeError):
    """A stage reached for a client its row does not declare (what it declares is what it may use)."""


class StageStore(LaunchStore):
    """The store as a stage sees it: what it writes to the environment's record (changes, the rollback
    point) is written at once, but its timeline events wait to be written with its progress."""

    def __init__(self, store: LaunchStore, launch_id: str, defer: bool = True) -> None:
        super().__init__(store._db, store._table, store.clock)
        self._launch_id = launch_id
        self._defer = defer
        self.events: list[TimelineEvent] = []

    def append_event(
        self,
        launch_id: str,
        kind: str,
        message: str,
        stage: Stage | None = None,
        details: dict[str, Any] | None = None,
    ) -> TimelineEvent:
        if launch_id != self._launch_id or not self._defer:
            return super().append_event(launch_id, kind, message, stage, details)
        event = self.event(kind, message, stage, details)
        self.events.append(event)
        return event


@dataclass
class StageCall:
    """What a stage works with: the launch as loaded once, its profile, the clients it declared, settings."""

    store: StageStore
    launch: Launch
    profile: EnvironmentProfile
    event: StageEvent
    settings: Settings
    declared: tuple[str, ...] = ()
    make_client: Callable[[str], Any] | None = None
    own: tuple[str, ...] = ()
    make_own_client: Callable[[str], Any] | None = None
    _made: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        """A declared client, made when first asked for (a cold container pays only for what the stage uses):
        in the environment's account as its role, or, for the services the row names its own, the
        controller's."""
        make = self.make_client if service in self.declared else self.make_own_client
        if (service not in self.declared and service not in self.own) or make is None:
            raise UndeclaredClient(f"the stage asked for {service}, which its row of the stage table does not name")
        if service not in self._made:
            self._made[service] = make(service)
        return self._made[service]

    def announce(self, note: ChatNotification) -> None:
        """To the team's channel (the notifications topic), when the deployment has one."""
        if self.settings.notifications_topic_arn:
            chat.publish(self.client("sns"), self.settings.notifications_topic_arn, note)
        lark.deliver(note, self.settings, self.client)

    def controller_client(self, service: str) -> Any:
        """The controller's own client of a service the stage also reads in the environment (secrets)."""
        if service not in self.own or self.make_own_client is None:
            raise UndeclaredClient(f"the stage asked for its own {service}, which its row does not name its own")
        key = f"own:{service}"
        if key not in self._made:
            self._made[key] = self.make_own_client(service)
        return self._made[key]


# Every wait runs in one function: it opens a wait or looks at its deadline, whatever the resource.
WAIT_FUNCTION = "await_event"


def wait_row(kind: str) -> str:
    """The stage table's row for a wait of `kind`."""
    return f"wait_for_{kind}"


@dataclass(frozen=True)
class StageSpec:
    """One row of the stage table: what the stage is, what it needs and how the launch moves around it."""

    name: str
    stage: Stage
    run: Callable[[StageCall], Progress]
    enters: LaunchStatus | None = None  # the status the launch is in while the stage works
    exits: Callable[[Launch], Entry] | None = None  # the status (and stage) written with its progress
    honours_abort: bool = True
    clients: tuple[str, ...] = ()  # in the environment's account, as its role
    own_clients: tuple[str, ...] = ()  # in the controller's account (its topics, its link key)
    event: type[StageEvent] = StageEvent
    function: str = ""  # the Lambda function the row runs in (its policies), when not its own name
    # False for a row that writes its own progress (a wait answers the execution after writing, so nothing
    # may be written after it): its events are written at once and its result is not written again.
    persists: bool = True

    @property
    def function_name(self) -> str:
        return self.function or self.name


@dataclass
class Dependencies:
    """How the harness reaches the outside: made per call, so tests hand in their own."""

    store: Callable[[], LaunchStore]
    client: Callable[[str], Any]  # the controller's own
    # the launch's environment's, for the function named (its needs there)
    environment: Callable[[Launch, EnvironmentProfile, str], Callable[[str], Any]]
    settings: Callable[[], Settings]


def handle(spec: StageSpec, event: dict[str, Any], needs: Dependencies) -> dict[str, Any]:
    """Run `spec` for the launch `event` names and return its progress to the state machine.

    One read of the launch; an abort asked for stops the stage before it works (LaunchAborted); the entry
    status is written only when it changes; then one write of the progress with the stage's events (and
    its exit status), or, when it fails, of the failure with any partial progress, before passing it on."""
    begin_invocation()
    parsed = spec.event.model_validate(event)
    about(launch_id=parsed.launch_id, stage=str(spec.stage), step=spec.name)
    store = needs.store()
    launch = store.get_launch(parsed.launch_id)
    about(execution=launch.execution_arn, environment=launch.request.environment)
    if launch.status.is_final and spec.stage != Stage.FINISH:
        raise LaunchHasEnded(f"launch {launch.launch_id} has ended ({launch.status}); {spec.name} does not run")
    if spec.honours_abort and launch.abort:
        reason = f"aborted by {launch.abort['aborted_by']}: {launch.abort['reason']}"
        store.append_event(launch.launch_id, "aborting", f"{spec.stage} not started: {reason}", stage=spec.stage)
        raise LaunchAborted(reason)
    if spec.enters is not None and (launch.status, launch.stage) != (spec.enters, spec.stage):
        launch = store.set_status(launch.launch_id, spec.enters, stage=spec.stage, current=launch)
    recorder = StageStore(store, launch.launch_id, defer=spec.persists)
    profile = profile_of(launch)
    call = StageCall(
        store=recorder,
        launch=launch,
        profile=profile,
        event=parsed,
        settings=needs.settings(),
        declared=spec.clients,
        make_client=needs.environment(launch, profile, spec.function_name) if spec.clients else None,
        own=spec.own_clients,
        make_own_client=needs.client,
    )
    logger.info("step started")
    try:
        progress = spec.run(call)
    except Exception as exc:
        logger.warning("step failed", extra={"error": type(exc).__name__})
        if not isinstance(exc, LaunchError):
            # Not a launch ending on purpose: an AWS call that kept failing, or a fault of the controller's.
            telemetry.controller({"StepFaults": 1}, function=spec.function_name)
        _persist_failure(store, launch, spec.stage, exc, recorder.events)
        raise
    logger.info("step done")
    if not spec.persists:
        return progress.model_dump(mode="json")
    status, stage = spec.exits(launch) if spec.exits else (None, None)
    try:
        store.write_progress(
            launch, stage, progress, kept_under=spec.stage, events=recorder.events, status=status, status_last=True
        )
    except StatusConflict:
        # The launch moved on while the step worked (its gate timed out, it was aborted): what the step did
        # stays on the record, the status it would have set does not, and the execution is not told it won.
        store.write_progress(launch, progress=progress, kept_under=spec.stage, events=recorder.events)
        raise
    return progress.model_dump(mode="json")


def _persist_failure(
    store: LaunchStore, launch: Launch, stage: Stage, exc: Exception, events: list[TimelineEvent]
) -> None:
    """The stage's events so far, its failure, and the progress it got to, in one write."""
    failed = store.event(
        "stage_failed", f"{stage} failed: {exc}", stage, {"error": type(exc).__name__, "cause": str(exc)}
    )
    progress = getattr(exc, "progress", None)
    try:
        store.write_progress(
            launch,
            progress=progress if isinstance(progress, BaseModel) else None,
            kept_under=stage,
            events=[*events, failed],
        )
    except Exception:  # the failure itself is what the state machine must see; the finish writes its cause
        logger.exception("could not write the failure of %s", stage)


def dependencies() -> Dependencies:
    """The stage harness's view of this deployment."""
    return Dependencies(store=launch_store, client=aws.preflight_client, environment=environment_of, settings=settings)
