"""The events a waiting launch listens for: the EventBridge pattern of the controller's rule."""

from __future__ import annotations

from typing import Any

# By source and detail-type. The environments' forwarding rules (launchctl/build/target_role.py) each match
# a narrower part of these; a test checks they stay within.
WATCHED: dict[str, list[str]] = {
    "aws.ecs": ["ECS Deployment State Change", "ECS Task State Change"],
    "aws.rds": ["RDS DB Snapshot Event"],
    "aws.cloudwatch": ["CloudWatch Alarm State Change"],
    "aws.synthetics": ["Synthetics Canary TestRun Successful", "Synthetics Canary TestRun Failure"],
}

# The rule the controller's event function listens with (its EventBridge rule, from @app.on_cw_event).
WATCHED_EVENTS: dict[str, Any] = {
    "source": sorted(WATCHED),
    "detail-type": sorted(kind for kinds in WATCHED.values() for kind in kinds),
}

# Step Functions' word that an execution ended without succeeding: the launch's finish may not have run.
EXECUTIONS_ENDED: dict[str, Any] = {
    "source": ["aws.states"],
    "detail-type": ["Step Functions Execution Status Change"],
    "detail": {"status": ["FAILED", "TIMED_OUT", "ABORTED"]},
}
