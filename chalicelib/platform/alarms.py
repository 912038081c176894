"""CloudWatch alarms by name as DescribeAlarms answers them: metric and composite alike (without AlarmTypes it
returns metric alarms only), at most a hundred names a call, every page read."""

from __future__ import annotations

from typing import Any

ALARM_TYPES = ["MetricAlarm", "CompositeAlarm"]
MOST_NAMES = 100  # DescribeAlarms' AlarmNames


def described_alarms(cloudwatch: Any, names: list[str]) -> list[dict[str, Any]]:
    """Every alarm of `names` that exists, metric or composite (each has AlarmName, AlarmArn, StateValue)."""
    found: list[dict[str, Any]] = []
    for start in range(0, len(names), MOST_NAMES):
        pages = cloudwatch.get_paginator("describe_alarms").paginate(
            AlarmNames=names[start : start + MOST_NAMES], AlarmTypes=ALARM_TYPES
        )
        for page in pages:
            found += page.get("MetricAlarms", []) + page.get("CompositeAlarms", [])
    return found
