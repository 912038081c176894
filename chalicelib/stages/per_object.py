"""S3 calls a stage makes per object (copies, heads), many at once, bounded, as `aws s3 sync` does."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

# Calls in flight at once: enough to hide S3's latency, few enough that one Lambda's sockets and S3's
# per-prefix request rate (3,500 writes a second) are never the limit; the clients' connection pools hold
# this many (chalicelib/platform/aws.py), and their standard retry mode absorbs a SlowDown.
CALLS_IN_FLIGHT = 16

Item = TypeVar("Item")


def each_object(call: Callable[[Item], None], keys: Iterable[Item], in_flight: int | None = None) -> None:
    """Run `call(key)` for every key, at most `in_flight` (CALLS_IN_FLIGHT) at once. Every call started has
    ended when this returns or raises (none is left running behind a failed step); the first failure is raised."""
    pending = list(keys)
    if len(pending) <= 1:
        for key in pending:
            call(key)
        return
    workers = min(in_flight or CALLS_IN_FLIGHT, len(pending))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="s3-object") as pool:
        # Each call runs in a copy of this context: the log keys and the trace follow it into the pool.
        futures = [pool.submit(contextvars.copy_context().run, call, key) for key in pending]
    failed = [error for future in futures if (error := future.exception()) is not None]
    if failed:
        raise failed[0]
