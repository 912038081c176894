"""What a person must do once a launch has ended: the same words in the team's channel and on the launch page."""

from __future__ import annotations

from chalicelib.domain.models import Launch, LaunchStatus


def next_steps(launch: Launch, final: LaunchStatus, cause: str) -> list[str]:
    """Each thing left for a person, most urgent first: what a failed rollback did not undo (and the unlock
    after it), and a database restored beside the original, which the application does not use until someone
    switches it over."""
    steps = _left_by_a_failed_rollback(launch, cause) if final == LaunchStatus.ROLLBACK_FAILED else []
    rollback = launch.results.rollback
    database = rollback.undone.get("database") if rollback else None
    if database is not None and database.restored_instance:
        original = launch.profile.database.instance_id if launch.profile else "the original"
        steps.insert(
            0,
            f"switch the application to the restored database {database.restored_instance} (as it was before the "
            f"launch): {original} still holds the migrated data; delete it once nothing uses it",
        )
    if final == LaunchStatus.ROLLBACK_FAILED:
        steps.append(f"then run: launchctl unlock {launch.request.environment} --reason '<what you did>'")
    return steps


def _left_by_a_failed_rollback(launch: Launch, cause: str) -> list[str]:
    rollback = launch.results.rollback
    undone = rollback.undone if rollback else {}
    left = rollback.left if rollback else []
    steps = [f"undo by hand: {entry}" for entry in left]
    for change in launch.changes:
        settled = change in undone and undone[change].settled
        if not settled and not any(entry.startswith(f"{change}:") for entry in left):
            steps.append(f"undo by hand: {change} was not restored ({cause or 'rollback did not finish'})")
    return steps
