"""Runs one stage of a launch and writes what happened to its timeline, whatever the outcome."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.models import Stage
from chalicelib.store import LaunchStore


def run_stage(store: LaunchStore, launch_id: str, stage: Stage, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Call `work`; record its result, or the error it raised, before passing either on."""
    try:
        result = work()
    except Exception as exc:
        store.append_event(
            launch_id,
            "stage_failed",
            f"{stage} failed: {exc}",
            stage=stage,
            details={"error": type(exc).__name__, "cause": str(exc)},
        )
        raise
    store.record_result(launch_id, stage, result)
    return result
