"""S3 copies a stage makes many of at once, bounded, as `aws s3 sync` keeps several requests in flight."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

# Copies in flight at once: enough to hide S3's latency, few enough that one Lambda's sockets and S3's
# per-prefix request rate (3,500 writes a second) are never the limit; the clients' connection pools hold
# this many (chalicelib/aws.py), and their standard retry mode absorbs a SlowDown.
COPIES_IN_FLIGHT = 16


def copy_each(copy: Callable[[str], None], keys: Iterable[str], in_flight: int | None = None) -> None:
    """Run `copy(key)` for every key, at most `in_flight` (COPIES_IN_FLIGHT) at once. Every copy started has
    ended when this returns or raises (none is left running behind a failed step); the first failure is raised."""
    in_flight = in_flight or COPIES_IN_FLIGHT
    pending = list(keys)
    if len(pending) <= 1:
        for key in pending:
            copy(key)
        return
    with ThreadPoolExecutor(max_workers=min(in_flight, len(pending)), thread_name_prefix="s3-copy") as pool:
        # Each copy runs in a copy of this context: the log keys and the trace follow it into the pool.
        futures = [pool.submit(contextvars.copy_context().run, copy, key) for key in pending]
    failed = [error for future in futures if (error := future.exception()) is not None]
    if failed:
        raise failed[0]
