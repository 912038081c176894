"""What the frontend stages cost by the site's size: the rollback point, the deploy and the rollback of N
objects, each stage's wall time, S3 calls and most calls in flight, the launch item's size and the largest
timeline event, on moto in this process.

On AWS an S3 call takes tens of milliseconds; moto answers in a few. `--s3-ms 30` adds that much to each S3
call (a sleep in botocore's before-send, outside the GIL), so the parallel copies show what they hide.

Run with `make bench-sites` (about ten minutes), or `python benchmarks/site_sizes.py 100 1000 --s3-ms 30`."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")  # moto only: never a real account
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


class S3Calls:
    """Counts one client's S3 calls and the most in flight at once; optionally makes each take longer."""

    def __init__(self, s3: Any, added_ms: float, service: str = "s3") -> None:
        self.lock = threading.Lock()
        self.calls = 0
        self.in_flight = 0
        self.most = 0
        self.added = added_ms / 1000
        s3.meta.events.register(f"before-call.{service}.*", self._began)
        s3.meta.events.register(f"after-call.{service}.*", self._ended)
        s3.meta.events.register(f"before-send.{service}.*", self._latency)

    def _began(self, **_: Any) -> None:
        with self.lock:
            self.calls += 1
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)

    def _ended(self, **_: Any) -> None:
        with self.lock:
            self.in_flight -= 1

    def _latency(self, **_: Any) -> None:
        if self.added:
            time.sleep(self.added)

    def reset(self) -> None:
        with self.lock:
            self.calls, self.most = 0, 0


def measure(
    objects: int, added_ms: float, generations: int = 1, layout: str = "copy", kvs_ms: float = 100
) -> dict[str, Any]:
    from localaws import moto_fixes
    from localaws.infrastructure import create_environment
    from localaws.sessions import shared_session
    from moto import mock_aws

    from chalicelib.domain.models import Launch, LaunchRequest, LaunchStatus
    from chalicelib.stages import frontend, rollback, rollback_point
    from chalicelib.stages.release_switch import release_prefix, switch_release
    from chalicelib.store import LaunchStore, table_definition
    from chalicelib.store.dynamodb import Keys
    from launchctl.examples import example_profile

    with mock_aws():
        moto_fixes.apply()
        session = shared_session(region_name="us-east-1")
        clients: dict[str, Any] = {}

        def client(service: str) -> Any:
            return clients.setdefault(service, session.client(service))

        example = example_profile("local")
        # moto's one account holds everything here, the switch's store too.
        account = client("sts").get_caller_identity()["Account"]
        store = (example.frontend.key_value_store_arn or "").replace(f"::{example.target.account_id}:", f"::{account}:")
        frontend_target = example.frontend.model_copy(update={"layout": layout, "key_value_store_arn": store})
        profile = example.model_copy(update={"functional": None, "frontend": frontend_target})
        create_environment(client, profile, edge=False)
        s3 = client("s3")
        site, artifacts = profile.frontend.site_bucket, profile.frontend.artifact_bucket
        # Layout releases: the live release is 1.9.0, in place under its prefix, and the switch names it.
        live = release_prefix("1.9.0") if layout == "releases" else ""
        kvs = client("cloudfront-keyvaluestore")
        if layout == "releases":
            assert profile.frontend.key_value_store_arn is not None
            switch_release(kvs, profile.frontend.key_value_store_arn, "1.9.0")
        # A site of `objects` hashed assets and its entry page, live; the release changes every one.
        for n in range(objects):
            for generation in range(generations):  # earlier launches' versions, kept in the bucket
                key = f"{live}assets/chunk-{n:05d}.0000aaaa.js"
                s3.put_object(Bucket=site, Key=key, Body=f"old {generation}".encode())
            s3.put_object(Bucket=artifacts, Key=f"releases/2.0.0/assets/chunk-{n:05d}.0000aaaa.js", Body=b"new")
        s3.put_object(Bucket=artifacts, Key="releases/2.0.0/index.html", Body=b"<html>2.0.0</html>")
        client("dynamodb").create_table(**table_definition("launches"))
        store = LaunchStore(client("dynamodb"), "launches")
        moment = datetime.now(UTC)
        launch = Launch(
            launch_id="local-20261129-000000-bench0",
            request=LaunchRequest(
                environment="local",
                version="2.0.0",
                git_sha="abcdef1234",
                frontend_artifact=f"s3://{artifacts}/releases/2.0.0/",
                backend_image="123456789012.dkr.ecr.us-east-1.amazonaws.com/acme/api:1.0.0",
            ),
            requested_by="riley.release@acme.example",
            status=LaunchStatus.DEPLOYING,
            created_at=moment,
            updated_at=moment,
            profile=profile,
            profile_version=1,
        )
        store.create_launch(launch)
        calls = S3Calls(s3, added_ms)
        # The KeyValueStore's API, at the global endpoint, slower than S3's: counted apart, slowed as much.
        kvs_calls = S3Calls(kvs, kvs_ms, service="cloudfront-keyvaluestore")
        row: dict[str, Any] = {"objects": objects}

        def stage(name: str, run: Any) -> None:
            calls.reset()
            kvs_calls.reset()
            began = time.monotonic()
            run()
            row[name] = (round(time.monotonic() - began, 2), calls.calls, calls.most, kvs_calls.calls)

        stage(
            "rollback point",
            lambda: rollback_point.record_rollback_point(
                store, store.get_launch(launch.launch_id), profile, client("ecs"), s3, client("rds"), kvs=kvs
            ),
        )
        stage(
            "deploy",
            lambda: frontend.deploy_frontend(
                store, store.get_launch(launch.launch_id), profile, s3, client("cloudfront"), kvs=kvs
            ),
        )
        recorded = store.get_launch(launch.launch_id)
        assert recorded.rollback_point is not None
        stage(
            "rollback",
            lambda: rollback.restore_frontend(
                recorded, recorded.rollback_point, profile, s3, client("cloudfront"), kvs=kvs
            ),
        )
        item = client("dynamodb").get_item(TableName="launches", Key=Keys.launch(launch.launch_id))
        row["item_kb"] = round(len(json.dumps(item.get("Item", {}))) / 1024, 1)
        row["largest_event_kb"] = round(
            max(len(event.model_dump_json()) for event in store.timeline(launch.launch_id)) / 1024, 1
        )
        return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[100, 1000])
    parser.add_argument("--s3-ms", type=float, default=30, help="added to each S3 call (AWS's latency)")
    parser.add_argument("--in-flight", type=int, help="S3 calls at once (default: the stages' own)")
    parser.add_argument("--generations", type=int, default=1, help="versions of each object already in the bucket")
    parser.add_argument(
        "--layout",
        choices=["copy", "releases"],
        default="copy",
        help="the profile's frontend.layout (docs/profiles.md)",
    )
    parser.add_argument("--kvs-ms", type=float, default=100, help="added to each KeyValueStore call (layout releases)")
    args = parser.parse_args()
    from chalicelib.stages import per_object

    if args.in_flight:
        per_object.CALLS_IN_FLIGHT = args.in_flight
    print(
        f"each S3 call takes {args.s3_ms:g} ms more than moto's; at most {per_object.CALLS_IN_FLIGHT} in flight; "
        f"{args.generations} version(s) of each object in the bucket; layout {args.layout}"
        + (f", each KeyValueStore call {args.kvs_ms:g} ms more" if args.layout == "releases" else "")
    )
    print("| site objects | rollback point | deploy | rollback | launch item | largest event |")
    print("|---|---|---|---|---|---|")
    for size in args.sizes:
        row = measure(size, args.s3_ms, args.generations, args.layout, args.kvs_ms)
        cells = [
            f"{row[name][0]} s, {row[name][1]} S3 calls, {row[name][2]} in flight"
            + (f", {row[name][3]} KeyValueStore calls" if args.layout == "releases" else "")
            for name in ("rollback point", "deploy", "rollback")
        ]
        print(f"| {size:,} | {' | '.join(cells)} | {row['item_kb']} KB | {row['largest_event_kb']} KB |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
