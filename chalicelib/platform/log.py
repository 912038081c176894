"""The functions' one logger (Powertools, JSON lines): each line carries the launch and the call it is about."""

from __future__ import annotations

import logging

from aws_lambda_powertools import Logger

from chalicelib.domain.caller_text import for_log
from chalicelib.platform.trace import annotate

logger = Logger(service="launch-controller")
# A LogRecord's own attributes; anything else on a record is a field a line carries (`extra`, appended keys).
_RECORD_ATTRIBUTES = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class _InertFields(logging.Filter):
    """Every text field of a line, and its message, through `caller_text.for_log`: a field a caller's words
    reach (a launch id, an event's name) can neither split the line nor steer a log viewer."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = for_log(record.msg)
        for name, value in list(record.__dict__.items()):
            if name not in _RECORD_ATTRIBUTES and isinstance(value, str):
                setattr(record, name, for_log(value))
        return True


logger.addFilter(_InertFields())


def begin_invocation() -> None:
    """A new invocation or request: nothing of the last one's keys carries over (containers are reused).
    The keys are this thread's: several functions may run at once in one process (the local stack)."""
    logger.thread_safe_clear_keys()


def about(**keys: str | None) -> None:
    """From here on in this invocation, every line carries `keys` (those given a value), and its trace is
    annotated with those X-Ray may index."""
    logger.thread_safe_append_keys(**{key: value for key, value in keys.items() if value})
    annotate(**keys)
