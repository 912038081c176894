"""A site over the profile's batch threshold: the state machine's Distributed Maps copy it, batch by batch."""

from __future__ import annotations

from typing import Any

import pytest
from localaws.infrastructure import backend_image, site_build

from launchctl.client import ControllerApi
from tests.integration.helpers import drive, lock_holder, next_version, pages_of, snapshot, use_profile

pytestmark = pytest.mark.integration


def in_batches(stack: Any, above: int = 0, per_batch: int = 2) -> None:
    """The local profile, copying more than `above` objects in batches of `per_batch` (the stack's restore
    stores the profile it started with again)."""
    frontend = stack.profile.frontend.model_copy(update={"batch_copies_above": above, "copies_per_batch": per_batch})
    use_profile(stack, frontend=frontend)


def map_runs(stack: Any, launch: dict[str, Any]) -> list[tuple[str, str]]:
    """The Distributed Maps the launch's execution ran: each map state's name and how its map run ended."""
    sfn = stack.client("stepfunctions")
    history = sfn.get_execution_history(executionArn=launch["execution_arn"], maxResults=1000)["events"]
    runs: list[tuple[str, str]] = []
    state = ""
    for event in history:
        if event["type"] == "MapStateEntered":
            state = event["stateEnteredEventDetails"]["name"]
        elif event["type"] in {"MapRunSucceeded", "MapRunFailed", "MapRunAborted"}:
            runs.append((state, event["type"].removeprefix("MapRun")))
    return runs


def test_a_site_over_the_threshold_is_backed_up_deployed_and_rolled_back_in_batches(
    stack: Any, api: ControllerApi
) -> None:
    in_batches(stack)
    before = snapshot(stack)
    version = next_version()
    stack.site.unhealthy_images.add(backend_image(version))
    # A child killed right after the second copy the children make (batches run at once): it is retried,
    # lists its range of the destination and copies nothing twice (the counts below).
    killed = stack.faults.add("copy_batch", "s3.CopyObject", "timeout", after=1)
    launch = drive(stack, api, version)
    assert launch["status"] == "ROLLED_BACK", launch["timeline"]
    assert killed.fired == 1
    assert snapshot(stack) == before
    assert lock_holder() is None
    planned = [event for event in launch["timeline"] if event["kind"] == "copying_in_batches"]
    served, release = before[1], site_build(version)
    changed = [key for key, body in release.items() if before[1].get(key) != body]
    assets = [key for key in changed if not key.endswith(".html") and key not in {"robots.txt", "manifest.json"}]
    assert [(event["stage"], event["details"]["kind"], event["details"]["copies"]) for event in planned] == [
        ("rollback_point", "backup", len(served)),
        ("frontend", "deploy", len(assets)),
    ]
    assert [event["details"]["batches"] for event in planned] == [
        -(-event["details"]["copies"] // 2) for event in planned
    ]
    restore = [e for e in launch["timeline"] if e["kind"] == "rolling_back" and "to copy back in" in e["message"]]
    assert len(restore) == 1, [
        (e["kind"], e["message"], e.get("details")) for e in launch["timeline"] if e["stage"] == "rollback"
    ]
    # Every copy of the three was made by the batches' children, once each; the stages made none of them.
    to_restore = [key for key, body in served.items() if release.get(key) != body]
    assert stack.faults.calls[("copy_batch", "s3.CopyObject")] == len(served) + len(assets) + len(to_restore)
    assert stack.faults.calls[("record_rollback_point", "s3.CopyObject")] == 0
    assert stack.faults.calls[("roll_back", "s3.CopyObject")] == 0
    assert map_runs(stack, launch) == [
        ("Back up the site in batches", "Succeeded"),
        ("Upload the assets in batches", "Succeeded"),
        ("Copy back the site in batches", "Succeeded"),
    ]


# A copy refused once in a child, (which one, counted among the children's copies), what the step after the map
# says, what the launch counts as changed.
REFUSED_IN_A_BATCH = [
    (
        "the backup's second",
        lambda served: 1,
        "rollback_point failed: the backup's batches left 1 site objects uncopied (",
        [],
    ),
    (
        "the upload's first",
        lambda served: served,
        "frontend failed: the upload's batches left 1 assets not uploaded (",
        ["frontend"],
    ),
]


@pytest.mark.parametrize(("copy", "after", "failure", "changes"), REFUSED_IN_A_BATCH)
def test_a_copy_refused_in_a_batch_rolls_the_launch_back_with_the_site_as_before(
    stack: Any, api: ControllerApi, copy: str, after: Any, failure: str, changes: list[str]
) -> None:
    in_batches(stack, per_batch=1)
    before = snapshot(stack)
    # The backup's children copy every served object first, then the upload's.
    stack.faults.add("copy_batch", "s3.CopyObject", "error", after=after(len(before[1])))
    launch = drive(stack, api, next_version())
    assert launch["status"] == "ROLLED_BACK", launch["timeline"]
    assert snapshot(stack) == before
    assert lock_holder() is None
    failed = [e["message"] for e in launch["timeline"] if e["kind"] == "stage_failed"]
    # On AWS the map fails on its first failed child (tolerance 0) and its Catch calls the step after; moto's
    # map lets the child fail and goes on to the same step. Either way that step finds the copy missing.
    assert len(failed) == 1, failed
    assert failed[0].startswith(failure), failed
    assert launch["changes"] == changes


def test_copies_back_that_keep_being_refused_end_the_rollback_failed_naming_what_is_left(
    stack: Any, api: ControllerApi
) -> None:
    in_batches(stack)
    before = snapshot(stack)
    version = next_version()
    release = site_build(version)
    stack.site.unhealthy_images.add(backend_image(version))
    # Every copy back refused: the backup's and the upload's copies go through first.
    assets = [key for key in release if not key.endswith(".html")]
    stack.faults.add("copy_batch", "s3.CopyObject", "error", times=1000, after=len(before[1]) + len(assets))
    launch = drive(stack, api, version)
    assert launch["status"] == "ROLLBACK_FAILED", launch["timeline"]
    to_restore = [key for key, body in before[1].items() if release.get(key) != body]
    assert f"the batches left {len(to_restore)} site objects not copied back" in launch["error"]["cause"]
    # The service was rolled back; the site still serves the release, and the lock waits for a person.
    assert stack.service_task_definition() == before[0]
    assert stack.site_objects() != before[1]
    assert lock_holder() == launch["launch_id"]
    assert any("frontend" in step for step in pages_of(stack, launch["launch_id"])[0]["manual_steps"])
