"""A site of many objects through the Distributed Map path, on the local stack: one real launch of a release
that changes every object and whose health check fails, so the backup, the upload and the copy back each run
in batches; what each stage took, the S3 calls the stages and the batches' children made, the map runs, the
launch item's size and the largest timeline event, and whether the site is byte for byte as before.

Run with `make bench-distributed` (30,000 objects: some twenty minutes, moto answering every call in this one
process), or `python benchmarks/distributed_site.py 5000`."""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

VERSION = "9.0.0"


def seed(stack: Any, objects: int) -> None:
    """`objects` more site objects, served now, and the release's own, each with other bytes (put through
    moto's backend directly: the stack's API would take minutes to make them)."""
    from localaws.infrastructure import ARTIFACT_BUCKET
    from moto.s3.models import s3_backends

    profile = stack.profile
    account = stack.environment_client("sts").get_caller_identity()["Account"]
    backend = s3_backends[account]["aws"]
    for n in range(objects):
        key = f"media/{n // 1000:02d}/img-{n:06d}.png"
        backend.put_object(profile.frontend.site_bucket, key, f"served {n}".encode())
        backend.put_object(ARTIFACT_BUCKET, f"releases/{VERSION}/{key}", f"release {VERSION} {n}".encode())


def site_digest(stack: Any) -> tuple[int, str]:
    """How many objects the site serves and a digest of every key and ETag."""
    s3 = stack.environment_client("s3")
    listed = [
        (item["Key"], item["ETag"])
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.profile.frontend.site_bucket)
        for item in page.get("Contents", [])
    ]
    return len(listed), hashlib.sha256(json.dumps(sorted(listed)).encode()).hexdigest()


def stage_times(timeline: list[dict[str, Any]]) -> dict[str, float]:
    """Seconds from each stage's first event to the next stage's first."""
    firsts: dict[str, datetime] = {}
    for event in timeline:
        firsts.setdefault(event["stage"], datetime.fromisoformat(event["at"].replace("Z", "+00:00")))
    ordered = sorted(firsts.items(), key=lambda item: item[1])
    return {stage: (following[1] - at).total_seconds() for (stage, at), following in itertools.pairwise(ordered)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("objects", type=int, nargs="?", default=30_000)
    parser.add_argument("--above", type=int, help="the profile's batch_copies_above (default: the profile's own)")
    parser.add_argument("--per-batch", type=int, help="the profile's copies_per_batch (default: the profile's own)")
    args = parser.parse_args()

    from localaws.infrastructure import backend_image
    from localaws.stack import LocalStack

    from chalicelib.platform.profile_store import push_profile
    from chalicelib.platform.wiring import launch_store
    from chalicelib.store.dynamodb import Keys
    from launchctl.client import is_final
    from tests.integration.helpers import APPROVERS, decide, start, wait

    with LocalStack() as stack:
        frontend = stack.profile.frontend
        changes = {"batch_copies_above": args.above, "copies_per_batch": args.per_batch}
        frontend = frontend.model_copy(update={key: value for key, value in changes.items() if value is not None})
        push_profile(stack.client("ssm"), stack.profile.model_copy(update={"frontend": frontend}), stack.profiles_path)
        stack.forget_profiles()
        print(f"copies in batches above {frontend.batch_copies_above:,}, {frontend.copies_per_batch} a batch")
        began = time.monotonic()
        seed(stack, args.objects)
        before = site_digest(stack)
        print(f"seeded {args.objects:,} objects in {time.monotonic() - began:.0f}s; the site serves {before[0]:,}")
        stack.site.unhealthy_images.add(backend_image(VERSION))
        stack.faults.calls.clear()
        api = stack.api_as()
        began = time.monotonic()
        launch_id = start(stack, api, VERSION)
        wait(api, launch_id, lambda item: item["status"] == "AWAITING_APPROVAL", timeout=600)
        for role in APPROVERS:
            decide(stack, launch_id, role)
        # The most S3 calls in flight in each stage: the count is taken and started again when a look (twice a
        # second) sees the stage change, so a stage's first half second may count in the one before.
        in_flight: dict[str, int] = {}
        stage = "approvals"
        stack.faults.take_most_in_flight("s3")  # the preflight's, before the sign-offs

        def ended(item: dict[str, Any]) -> bool:
            nonlocal stage
            if item.get("stage") not in {None, stage}:
                in_flight[stage] = stack.faults.take_most_in_flight("s3")
                stage = item["stage"]
            return is_final(item)

        api.wait(launch_id, ended, timeout=7200, interval=0.5)
        in_flight[stage] = stack.faults.take_most_in_flight("s3")
        launch = api.get(launch_id)
        took = time.monotonic() - began
        after = site_digest(stack)
        store = launch_store()
        item = store._db.get_item(TableName=store._table, Key=Keys.launch(launch_id))["Item"]
        events = [len(json.dumps(event)) for event in launch["timeline"]]  # as the API answers each
        history = stack.client("stepfunctions").get_execution_history(
            executionArn=launch["execution_arn"], maxResults=1000
        )["events"]
        runs = Counter(event["type"] for event in history if event["type"].startswith("MapRun"))
        s3 = {key: n for key, n in stack.faults.calls.items() if key[1].startswith("s3.")}
        print(f"\nlaunch {launch_id}: {launch['status']} in {took:.0f}s")
        for event in launch["timeline"]:
            if event["kind"] in {"copying_in_batches", "rolled_back", "frontend_deployed", "rollback_point"}:
                print(f"  {event['stage']:<15} {event['message'][:110]}")
        print("stage times:", {stage: f"{seconds:.0f}s" for stage, seconds in stage_times(launch["timeline"]).items()})
        print("map runs:", dict(runs))
        print("most S3 calls in flight:", {stage: n for stage, n in in_flight.items() if n})
        print("S3 calls by function:")
        for (function, operation), n in sorted(s3.items()):
            print(f"  {function:<22} {operation:<22} {n:>7,}")
        item_kb, event_kb = len(json.dumps(item, default=str)) / 1024, max(events) / 1024
        print(f"launch item: {item_kb:.1f} KB; largest event {event_kb:.1f} KB")
        same = "as before" if before == after else "DIFFERENT"
        print(f"site before {before[0]:,} objects, after {after[0]:,}: {same}")
        return 0 if launch["status"] == "ROLLED_BACK" and before == after else 1


if __name__ == "__main__":
    sys.exit(main())
