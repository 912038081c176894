"""The checklist's Infrastructure, Monitoring and Security items, each checked against the account: the
sections' checks, in the checklist's order, run at once with a deadline into one report."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.checks import access, application, balancer, cdn, database, monitoring, network, secret_items, security
from chalicelib.checks.access import ACCESS_CHECK
from chalicelib.checks.check import CHECKS, Check, ClientFactory, Context, Missing, Release
from chalicelib.checks.release import GitHubApp, GitHubUnreadable
from chalicelib.domain.profiles import EnvironmentProfile
from chalicelib.domain.progress import CheckOutcome as Outcome
from chalicelib.domain.progress import CheckResult, PreflightReport

__all__ = [
    "ACCESS_CHECK",
    "CHECKS",
    "CHECK_IDS",
    "Check",
    "ClientFactory",
    "Context",
    "Release",
    "run_preflight",
    "unused_severity_keys",
]

# The checklist's order: its sections as the checklist lists them, each section's checks as written there.
SECTIONS = (access, network, cdn, database, balancer, secret_items, monitoring, application, security)
CHECKS.sort(key=lambda item: [section.__name__ for section in SECTIONS].index(item.read.__module__))
CHECK_IDS = [item.id for item in CHECKS]


def _run_one(item: Check, ctx: Context) -> CheckResult:
    """Run one check once per run, whether the pool or a check that must wait for it asks first."""
    return ctx.once(f"check:{item.id}", lambda: _run(item, ctx))


def _run(item: Check, ctx: Context) -> CheckResult:
    """Run one check; an unreadable or missing resource is a failure that says why, never a pass."""
    config = ctx.profile.preflight
    severity = config.severity.get(item.id, item.severity)
    base = {
        "id": item.id,
        "title": item.title,
        "section": item.section,
        "severity": severity,
        "resource": item.resource(ctx.profile),
    }
    if item.id in config.skip:
        return CheckResult(**base, result="skipped", evidence={"reason": config.skip[item.id]})
    if item.applies is not None and not item.applies(ctx.profile):
        return CheckResult(**base, result="skipped", evidence={"reason": "the profile does not ask for it"})
    if item.needs and getattr(ctx.release, item.needs, None) is None:
        return CheckResult(**base, result="skipped", evidence={"reason": f"no release named ({item.needs})"})
    for first in item.after:
        before = _run_one(next(other for other in CHECKS if other.id == first), ctx)
        if before.result == "fail":
            reason = f"not run: {first} ({before.title}) did not pass"
            return CheckResult(**base, result="skipped", evidence={"reason": reason})
    try:
        ok, evidence = item.read(ctx)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        evidence = {"unreadable": error.get("Code", "ClientError"), "message": error.get("Message", str(exc))}
        return CheckResult(**base, result="fail", evidence=evidence)
    except (Missing, IndexError, KeyError, BotoCoreError, GitHubUnreadable) as exc:
        return CheckResult(**base, result="fail", evidence={"unreadable": type(exc).__name__, "message": str(exc)})
    outcome: Outcome = "pass" if ok else ("fail" if severity == "blocking" else "warn")
    return CheckResult(**base, result=outcome, evidence=evidence)


def run_preflight(
    profile: EnvironmentProfile,
    client: ClientFactory,
    release: Release | None = None,
    notification_topic_arn: str = "",
    workers: int = 8,
    github_app: Callable[[], GitHubApp] | None = None,
    deadline_seconds: float | None = None,
) -> PreflightReport:
    """Run every check, in parallel: they only read, and most wait on the network. With `deadline_seconds`,
    the report is made then whatever is still running (a check not finished fails, saying so): the API's
    report must reach its caller within API Gateway's 29 s, and an image scan alone may be waited for 10
    minutes; a launch's preflight waits for every check."""
    ctx = Context(client, profile, release, notification_topic_arn, github_app)
    first, rest = _access_first()
    access = _run_one(first, ctx)
    if access.result == "fail":
        # Nothing in the environment can be read: one clear failure, the rest not run (not each failing).
        reason = {"reason": "the environment's role could not be assumed (access.environment_role)"}
        skipped = [_skipped(item, ctx, reason) for item in rest]
        return PreflightReport(checks=[access, *skipped])
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="preflight")
    try:
        # Each check runs in a copy of this context, so what the caller's context carries (logging keys,
        # tracing) follows the check into the pool's thread.
        futures = [pool.submit(contextvars.copy_context().run, _run_one, item, ctx) for item in rest]
        wait(futures, timeout=deadline_seconds)
        results = [
            future.result() if future.done() else _unfinished(item, ctx, deadline_seconds or 0)
            for item, future in zip(rest, futures, strict=True)
        ]
    finally:
        # Checks still running are left to end on their own (they only read); the report does not wait.
        pool.shutdown(wait=deadline_seconds is None, cancel_futures=True)
    return PreflightReport(checks=[access, *results])


def _unfinished(item: Check, ctx: Context, seconds: float) -> CheckResult:
    """A check the report could not wait for: not a pass, whatever it would have found."""
    blocking = ctx.profile.preflight.severity.get(item.id, item.severity) == "blocking"
    evidence = {"unfinished": f"not finished within the report's {seconds:g} s (a launch's preflight waits for it)"}
    return _skipped(item, ctx, evidence, result="fail" if blocking else "warn")


def _access_first() -> tuple[Check, list[Check]]:
    access = next(item for item in CHECKS if item.id == ACCESS_CHECK)
    return access, [item for item in CHECKS if item is not access]


def _skipped(item: Check, ctx: Context, evidence: dict[str, Any], result: Outcome = "skipped") -> CheckResult:
    """A check not run (or not waited for), as `result`, with why."""
    severity = ctx.profile.preflight.severity.get(item.id, item.severity)
    return CheckResult(
        id=item.id,
        title=item.title,
        section=item.section,
        severity=severity,
        resource=item.resource(ctx.profile),
        result=result,
        evidence=evidence,
    )


def unused_severity_keys(profile: EnvironmentProfile) -> list[str]:
    """Severity or skip entries naming no check: a typo in a profile would silently do nothing."""
    named = set(profile.preflight.severity) | set(profile.preflight.skip)
    return sorted(named - set(CHECK_IDS))
