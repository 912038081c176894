"""`launchctl status --watch` on a terminal: the checklist redrawn in place as the launch moves."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from chalicelib.domain.caller_text import for_terminal

STAGES = [
    ("preflight", "preflight checks"),
    ("approvals", "sign-off"),
    ("rollback_point", "rollback point"),
    ("frontend", "frontend"),
    ("backend", "backend"),
    ("smoke", "smoke test"),
    ("bake", "bake"),
]
FINAL = {"SUCCEEDED", "ROLLED_BACK", "ROLLBACK_FAILED", "BLOCKED", "REJECTED", "EXPIRED", "ABORTED", "FAILED"}
MARKS = {"done": "✓", "running": "▶", "failed": "✗", "pending": "·", "skipped": "-"}


def _elapsed(launch: dict[str, Any], moment: datetime) -> str:
    started = datetime.fromisoformat(launch["created_at"])
    ended = datetime.fromisoformat(launch["updated_at"]) if launch["status"] in FINAL else moment
    seconds = max(0, int((ended - started).total_seconds()))
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _detail(stage: str, launch: dict[str, Any]) -> str:
    if stage == "approvals":
        return " · ".join(f"{r['role']} {r['state']}" for r in launch.get("approval_requests", []))
    if stage == "bake":
        passed = (launch.get("results", {}).get("bake") or {}).get("checkpoints", [])
        return " ".join(f"{c['label']} ✓" for c in passed)
    if stage == "backend":
        return str((launch.get("results", {}).get("backend") or {}).get("task_definition_arn", "")).rsplit("/", 1)[-1]
    return ""


def render(launch: dict[str, Any], moment: datetime | None = None) -> list[str]:
    """The launch as a checklist: each stage done, running, failed or pending, with what matters there."""
    moment = moment or datetime.now(UTC)
    status, current = launch["status"], launch.get("stage")
    visited = {event.get("stage") for event in launch.get("timeline", [])}
    order = [name for name, _ in STAGES]
    failed = status in FINAL and status != "SUCCEEDED"
    # Where a failed launch stopped: the last checklist stage it reached.
    stopped = max((order.index(s) for s in visited if s in order), default=-1)
    request = launch["request"]
    lines = [
        f"{launch['launch_id']}  {request['version']} → {request['environment']}  {status}  {_elapsed(launch, moment)}"
    ]
    for index, (name, label) in enumerate(STAGES):
        if status == "SUCCEEDED" or (name in visited and index < stopped):
            state = "done"
        elif failed and index == stopped:
            state = "failed"
        elif not failed and (name == current or index == stopped):
            state = "running"
        else:
            state = "skipped" if failed else "pending"
        lines.append(f"  {MARKS[state]} {label:<17} {_detail(name, launch)}".rstrip())
    if "rollback" in visited or status in {"ROLLING_BACK", "ROLLED_BACK", "ROLLBACK_FAILED"}:
        state = {"ROLLED_BACK": "done", "ROLLBACK_FAILED": "failed"}.get(status, "running")
        undone = ", ".join(launch.get("changes", [])) or "nothing had changed"
        lines.append(f"  {MARKS[state]} {'rollback':<17} {undone}")
    if launch.get("error"):
        lines.append(f"  {launch['error'].get('error')}: {launch['error'].get('cause', '')}"[:200])
    return lines


class LiveDisplay:
    """Redraws the checklist under the events printed so far (ANSI: cursor up, clear to end)."""

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out
        self.drawn = 0

    def update(self, launch: dict[str, Any], new_events: list[str]) -> None:
        if self.drawn:
            self.out.write(f"\x1b[{self.drawn}F\x1b[J")
        for line in new_events:
            self.out.write(line + "\n")  # made by format_event, inert already
        block = [for_terminal(line) for line in render(launch)]  # a cause may carry someone's words
        self.out.write("\n".join(block) + "\n")
        self.out.flush()
        self.drawn = len(block)
