"""The one clock the store and the stages read the time from, so a test sets it in one place."""

from __future__ import annotations

from datetime import UTC, datetime


class Clock:
    """Wall-clock time in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


SYSTEM_CLOCK = Clock()


def iso(moment: datetime) -> str:
    """The one spelling of a moment the table stores and compares (sortable as a string)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
