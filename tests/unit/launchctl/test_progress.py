"""The live checklist `launchctl status --watch` draws on a terminal."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

from launchctl.progress import LiveDisplay, render

MOMENT = datetime(2026, 11, 28, 12, 10, 5, tzinfo=UTC)


def _launch(status: str, stage: str, visited: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "launch_id": "local-20261128-120000-abcdef",
        "request": {"version": "2.1.0", "environment": "local"},
        "status": status,
        "stage": stage,
        "created_at": "2026-11-28T12:00:00+00:00",
        "updated_at": "2026-11-28T12:09:00+00:00",
        "timeline": [{"stage": name} for name in ["start", *visited]],
        "approval_requests": [{"role": "tech_lead", "state": "approved"}, {"role": "qa_lead", "state": "approved"}],
        "results": {"bake": {"checkpoints": [{"label": "T+15m"}]}},
        "changes": [],
        **extra,
    }


BAKING = ["preflight", "approvals", "rollback_point", "frontend", "backend", "smoke", "bake"]


def test_a_baking_launch_shows_what_is_done_what_runs_and_the_time_so_far() -> None:
    lines = render(_launch("BAKING", "bake", BAKING), MOMENT)
    assert lines[0] == "local-20261128-120000-abcdef  2.1.0 → local  BAKING  0:10:05"
    assert lines[1].startswith("  ✓ preflight checks")
    assert lines[2] == "  ✓ sign-off          tech_lead approved · qa_lead approved"
    assert lines[6].startswith("  ✓ smoke test")
    assert lines[7] == "  ▶ bake              T+15m ✓"
    assert len(lines) == 8


def test_a_launch_that_rolled_back_marks_where_it_failed_and_what_was_undone() -> None:
    launch = _launch(
        "ROLLED_BACK",
        "finish",
        ["preflight", "approvals", "rollback_point", "frontend", "backend", "smoke", "rollback", "finish"],
        changes=["backend", "frontend"],
        error={"error": "SmokeTestFailed", "cause": "health answered 503"},
    )
    lines = render(launch, MOMENT)
    assert "0:09:00" in lines[0]  # an ended launch's time stops at its end
    assert lines[5].startswith("  ✓ backend")
    assert lines[6].startswith("  ✗ smoke test")
    assert lines[7].startswith("  - bake")
    assert lines[8] == "  ✓ rollback          backend, frontend"
    assert lines[9] == "  SmokeTestFailed: health answered 503"


def test_the_display_redraws_the_checklist_in_place_under_new_events() -> None:
    out = io.StringIO()
    display = LiveDisplay(out)
    display.update(_launch("BAKING", "bake", BAKING), ["  12:00:01  start  requested"])
    first = out.getvalue()
    assert "\x1b[" not in first
    display.update(_launch("BAKING", "bake", BAKING), ["  12:00:02  bake  checkpoint"])
    assert out.getvalue()[len(first) :].startswith("\x1b[8F\x1b[J  12:00:02  bake  checkpoint\n")
