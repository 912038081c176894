"""What a launch costs on events: state transitions, Lambda invocations and events, for short and long bakes
and rollouts on the local stack, and how fast a breach set mid-bake rolls the launch back.

Run with `make bench-events` (about two and a half minutes: three launches bake for a minute)."""

from __future__ import annotations

import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the launches are driven as the tests drive them

from localaws.infrastructure import backend_image
from localaws.stack import LocalStack, Ports

from tests.integration.helpers import approve_all, next_version, start, wait

# Step Functions Standard: $0.025 per 1,000 state transitions (us-east-1, 2026).
PRICE_PER_TRANSITION = 0.025 / 1000


def with_bake(stack: LocalStack, checkpoints: list[int]) -> None:
    from chalicelib.platform.profile_store import push_profile

    bake = stack.profile.bake.model_copy(update={"checkpoints": checkpoints})
    push_profile(stack.client("ssm"), stack.profile.model_copy(update={"bake": bake}), stack.profiles_path)
    stack.forget_profiles()


def launch(stack: LocalStack, slow_rollout: float = 0.0, breach_mid_bake: bool = False) -> dict[str, Any]:
    api = stack.api_as()
    version = next_version()
    delivered_before = len(stack.events.deliveries)
    if slow_rollout:
        stack.scheduler.slow_images.add(backend_image(version))
    launch_id = start(stack, api, version)
    approve_all(stack, api, launch_id)
    reacted = None
    if slow_rollout:
        wait(api, launch_id, lambda item: "backend" in item["changes"])
        timer = threading.Timer(slow_rollout, lambda: stack.scheduler.slow_images.discard(backend_image(version)))
        timer.start()
    if breach_mid_bake:
        wait(
            api,
            launch_id,
            lambda item: any(e["kind"] == "waiting" and e["stage"] == "bake" for e in item["timeline"]),
            timeout=300,
        )
        stack.set_alarm(stack.profile.bake.alarm_names[0], "ALARM")
        tripped = time.monotonic()
        wait(api, launch_id, lambda item: item["status"] != "BAKING", timeout=300)
        reacted = time.monotonic() - tripped
    ended = wait(api, launch_id, timeout=300)
    costs = stack.execution_costs(launch_id)
    events = stack.events.deliveries[delivered_before:]
    return {
        "status": ended["status"],
        **costs,
        "events": sum(1 for d in events if d.functions),
        "reacted": reacted,
    }


def main() -> None:
    with LocalStack(Ports.any_free()) as stack:
        rows = []
        for label, checkpoints, slow, breach in [
            ("6 s bake, 0.5 s rollout", [3, 6], 0.0, False),
            ("60 s bake, 0.5 s rollout", [30, 60], 0.0, False),
            ("6 s bake, 20 s rollout", [3, 6], 20.0, False),
            ("breach set mid-bake (60 s bake)", [30, 60], 0.0, True),
        ]:
            with_bake(stack, checkpoints)
            result = launch(stack, slow, breach)
            rows.append((label, result))
            stack.restore()
        reactions = []
        with_bake(stack, [30, 60])
        for _ in range(4):
            reactions.append(launch(stack, breach_mid_bake=True)["reacted"])
            stack.restore()
    print("| launch on the local stack | ends | state transitions | Lambda invocations | events heard | cost |")
    print("|---|---|---|---|---|---|")
    for label, r in rows:
        cost = r["transitions"] * PRICE_PER_TRANSITION
        print(
            f"| {label} | {r['status']} | {r['transitions']} | {r['lambda_invocations']} | {r['events']} "
            f"| ${cost:.4f} |"
        )
    median, worst = statistics.median(reactions), max(reactions)
    print(f"\nbreach set mid-bake -> rolling back: median {median:.2f} s, max {worst:.2f} s")


if __name__ == "__main__":
    main()
