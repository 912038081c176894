"""A stage's result or its failure always reaches the launch's record."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.models import Launch, Stage
from chalicelib.stages.runner import run_stage


def test_a_stage_result_is_recorded(store: Any, launch: Launch) -> None:
    assert run_stage(store, launch.launch_id, Stage.SMOKE, lambda: {"ok": True}) == {"ok": True}
    assert store.get_launch(launch.launch_id).results["smoke"] == {"ok": True}


def test_a_stage_failure_is_timelined_and_passed_on(store: Any, launch: Launch) -> None:
    def work() -> dict[str, Any]:
        raise TimeoutError("ECS did not answer")

    with pytest.raises(TimeoutError):
        run_stage(store, launch.launch_id, Stage.BACKEND, work)
    [event] = store.timeline(launch.launch_id)
    assert event.kind == "stage_failed"
    assert event.details == {"error": "TimeoutError", "cause": "ECS did not answer"}
