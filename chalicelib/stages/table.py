"""The stage table: every step of the checklist the state machine calls, by the name its Lambda runs it
under, and the module that declares it (its StageSpec: the stage, the status it enters, the clients it may
reach, the function that runs it).

A step's module is imported when its row is first asked for, so a stage's Lambda starts with its own stage's
code only. Adding a stage is its module (with its spec), one row here, one Lambda in stages/lambdas.py and
one ASL state (docs/adding-a-stage.md). The waits share one function (`await_event`), which runs the row the
state names; each kind of wait is a row of stages/wait_kinds.py."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from chalicelib.stages.harness import StageSpec, wait_row

# Each step, in the order a launch meets it: the module and the name of its spec there. The waits' rows are
# stages/waits.py's WAIT_STEPS, one for each kind of wait.
ROWS: dict[str, tuple[str, str]] = {
    "begin_launch": ("chalicelib.stages.lifecycle", "BEGIN_LAUNCH"),
    "preflight": ("chalicelib.stages.preflight", "PREFLIGHT"),
    "request_approvals": ("chalicelib.stages.approval_gate", "REQUEST_APPROVALS"),
    "record_rollback_point": ("chalicelib.stages.rollback_point", "RECORD_ROLLBACK_POINT"),
    "deploy_frontend": ("chalicelib.stages.frontend", "DEPLOY_FRONTEND"),
    "deploy_backend": ("chalicelib.stages.backend", "DEPLOY_BACKEND"),
    "smoke_test": ("chalicelib.stages.smoke", "SMOKE_TEST"),
    "begin_bake": ("chalicelib.stages.bake", "BEGIN_BAKE"),
    "bake_checkpoint": ("chalicelib.stages.bake_checkpoint", "BAKE_CHECKPOINT"),
    "roll_back": ("chalicelib.stages.rollback", "ROLL_BACK"),
    "finish_launch": ("chalicelib.stages.lifecycle", "FINISH_LAUNCH"),
}


class StageTable(Mapping[str, StageSpec]):
    """The rows, each resolved from its module when first asked for."""

    def __getitem__(self, name: str) -> StageSpec:
        if name.startswith(wait_row("")):
            return _wait_steps()[name]
        module, attribute = ROWS[name]
        declared = getattr(importlib.import_module(module), attribute, None)
        if not isinstance(declared, StageSpec) or declared.name != name:
            raise LookupError(f"{module}.{attribute} does not declare the step {name}")
        return declared

    def __iter__(self) -> Iterator[str]:
        yield from ROWS
        yield from _wait_steps()

    def __len__(self) -> int:
        return len(ROWS) + len(_wait_steps())


def _wait_steps() -> dict[str, StageSpec]:
    from chalicelib.stages.waits import WAIT_STEPS  # the waits' looks are the stages' own code: only when asked

    return WAIT_STEPS


STAGES = StageTable()
