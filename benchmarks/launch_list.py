"""What a page of the launch list costs by how many launches the table holds: for each filter the list offers,
the items DynamoDB read for a page of 20 (ScannedCount: before any filter), the bytes it answered and the
wall time, on moto in this process.

Run with `make bench-list` (about two minutes), or `python benchmarks/launch_list.py 10 1000 10000`."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")  # moto only: never a real account
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

PAGE = 20
ENVIRONMENTS = ["production", "staging", "local"]


class CountingReads:
    """DynamoDB whose queries add up what each read and answered."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.read = 0
        self.answered_bytes = 0
        self.queries = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def query(self, **kwargs: Any) -> Any:
        answer = self._client.query(**kwargs)
        self.queries += 1
        self.read += answer["ScannedCount"]
        self.answered_bytes += len(json.dumps(answer.get("Items", [])))
        return answer


def measure(launches: int) -> list[dict[str, Any]]:
    from localaws import moto_fixes
    from localaws.sessions import shared_session
    from moto import mock_aws

    from chalicelib.domain.models import Launch, LaunchRequest, LaunchStatus
    from chalicelib.store import LaunchStore, table_definition
    from launchctl.examples import example_profile

    statuses = [LaunchStatus.SUCCEEDED] * 6 + [LaunchStatus.ROLLED_BACK, LaunchStatus.FAILED, LaunchStatus.BLOCKED]
    with mock_aws():
        moto_fixes.apply()
        dynamodb = shared_session(region_name="us-east-1").client("dynamodb")
        dynamodb.create_table(**table_definition("launches"))
        store = LaunchStore(dynamodb, "launches")
        profile = example_profile("local")
        start = datetime(2026, 1, 1, tzinfo=UTC)
        for i in range(launches):
            moment = start + timedelta(minutes=i)
            environment = ENVIRONMENTS[i % len(ENVIRONMENTS)]
            # Each as a finished launch keeps it: the profile it followed (its item's largest part).
            store.create_launch(
                Launch(
                    launch_id=f"{environment}-{moment:%Y%m%d-%H%M%S}-{i:06x}",
                    request=LaunchRequest(
                        environment=environment,
                        version=f"1.{i // 100}.{i % 100}",
                        git_sha="abcdef1234",
                        frontend_artifact=f"s3://acme-artifacts/releases/1.{i}/",
                        backend_image="123456789012.dkr.ecr.us-east-1.amazonaws.com/acme/api:1.0.0",
                    ),
                    requested_by="riley.release@acme.example",
                    status=statuses[i % len(statuses)],
                    created_at=moment,
                    updated_at=moment,
                    profile=profile,
                    profile_version=1,
                )
            )
        rows = []
        for environment, status in [
            (None, None),
            ("production", None),
            (None, LaunchStatus.ROLLED_BACK),
            ("production", LaunchStatus.ROLLED_BACK),
        ]:
            counting = CountingReads(dynamodb)
            listing = LaunchStore(counting, "launches")
            began = time.monotonic()
            page, _ = listing.list_launches(PAGE, environment=environment, status=status)
            rows.append(
                {
                    "filter": " and ".join(
                        f"{name}={value}" for name, value in (("environment", environment), ("status", status)) if value
                    )
                    or "none",
                    "listed": len(page),
                    "read": counting.read,
                    "queries": counting.queries,
                    "kb": round(counting.answered_bytes / 1024, 1),
                    "ms": round((time.monotonic() - began) * 1000),
                }
            )
        return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[10, 1000, 10000])
    args = parser.parse_args()
    print(f"a page of {PAGE}; launches spread over {len(ENVIRONMENTS)} environments, one in nine ROLLED_BACK")
    print("| launches in the table | filter | launches listed | items read | queries | answered | time |")
    print("|---|---|---|---|---|---|---|")
    for size in args.sizes:
        for row in measure(size):
            print(
                f"| {size:,} | {row['filter']} | {row['listed']} | {row['read']} | {row['queries']} | "
                f"{row['kb']} KB | {row['ms']} ms |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
