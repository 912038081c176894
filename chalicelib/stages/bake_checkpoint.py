"""A bake checkpoint: the figures judged at T+n, told to the team's channel; the last healthy one ends the
alarm watch (the launch goes on then)."""

from __future__ import annotations

from chalicelib.domain.models import CheckpointEvent, Stage
from chalicelib.domain.progress import Progress
from chalicelib.platform import chat
from chalicelib.stages.bake import pass_checkpoint
from chalicelib.stages.harness import StageCall, StageSpec
from chalicelib.stages.wait_outcomes import Outcome
from chalicelib.stages.waits import settle


def _bake_checkpoint_step(call: StageCall) -> Progress:
    """A checkpoint's figures, written before the last one ends the alarm watch (the launch goes on then)."""
    assert isinstance(call.event, CheckpointEvent)
    progress = pass_checkpoint(
        call.store, call.launch, call.profile, call.client("cloudwatch"), call.event.offset_seconds
    )
    call.store.write_progress(call.launch, progress=progress, kept_under=Stage.BAKE)
    passed = next(c for c in progress.checkpoints if c.offset_seconds == call.event.offset_seconds)
    figures = passed.model_dump(mode="json", exclude={"offset_seconds", "label", "at"}, exclude_none=True)
    call.announce(chat.checkpoint(call.launch, passed.label, figures, progress.verdict == "healthy"))
    watch = call.store.open_wait_of(call.launch.launch_id)
    if progress.verdict == "healthy" and watch is not None and watch.kind == "alarms":
        ended = Outcome(verdict="done", reason="no alarm fired by the last checkpoint", progress=progress)
        settle(call.store, call.client("stepfunctions"), watch, ended, "the last checkpoint passed")
    return progress


BAKE_CHECKPOINT = StageSpec(
    "bake_checkpoint",
    Stage.BAKE,
    _bake_checkpoint_step,
    clients=("cloudwatch",),
    own_clients=("stepfunctions", "sns", "secretsmanager"),  # the channel's Lark bot
    event=CheckpointEvent,
    persists=False,
)
