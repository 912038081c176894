"""`launchctl`: start, watch and approve launches, and run the embedded local AWS."""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ProfileNotFound

from launchctl.client import FINAL_STATUSES, ApiError, ControllerApi, format_event, is_final
from launchctl.output import Parser, ago, completion, known_fields, moment, selected, span, table
from launchctl.progress import LiveDisplay

# `launchctl local`'s API, under the stage path the deployed API has.
DEFAULT_API = "http://127.0.0.1:24561/api"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


# Exit codes a script can tell apart.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_ROLLED_BACK = 3
EXIT_STOPPED = 4  # blocked, expired or aborted before a change: nothing changed
EXIT_ROLLBACK_FAILED = 5
EXIT_REJECTED = 6  # an approver said no
EXIT_EVIDENCE_BROKEN = 7  # `evidence verify`: the record was changed since it was written

_STATUS_EXIT = {
    "SUCCEEDED": EXIT_OK,
    "ROLLED_BACK": EXIT_ROLLED_BACK,
    "BLOCKED": EXIT_STOPPED,
    "REJECTED": EXIT_REJECTED,
    "EXPIRED": EXIT_STOPPED,
    "ABORTED": EXIT_STOPPED,
    "ROLLBACK_FAILED": EXIT_ROLLBACK_FAILED,
    "FAILED": EXIT_ERROR,
}


def _print(args: argparse.Namespace, data: Any, text: str) -> None:
    """JSON for scripts (only `--fields`' fields when given); for a person, the text with nothing in it that
    could steer their terminal (a reason or a comment is someone else's words)."""
    from chalicelib.domain.caller_text import for_terminal

    fields = [field.strip() for field in (getattr(args, "fields", None) or "").split(",") if field.strip()]
    if fields:
        unknown = sorted(set(fields) - set(known_fields(data))) if known_fields(data) else []
        if unknown:
            raise UsageError(f"no field {', '.join(unknown)} here; the fields are {', '.join(known_fields(data))}")
        print(json.dumps(selected(data, fields), indent=2))
    else:
        print(json.dumps(data, indent=2) if args.json else for_terminal(text, limit=100_000))


class UsageError(Exception):
    """The command was asked for something it cannot do (exit 2, the message on stderr)."""


def _open_in_browser(url: str) -> None:
    """The page in the person's browser (`--web`), as `gh ... --web` does; the link is printed as well."""
    import webbrowser

    print(f"opening {url}", file=sys.stderr)
    webbrowser.open(url)


def _page_link(api: ControllerApi, launch_id: str) -> str | None:
    """The launch's page, when the caller may read launches (a starter may not always)."""
    try:
        return str(api.view_link(launch_id)["url"])
    except ApiError:
        return None


def cmd_start(args: argparse.Namespace, api: ControllerApi) -> int:
    launch = api.start(
        environment=args.env,
        version=args.version,
        git_sha=args.git_sha,
        frontend_artifact=args.frontend,
        backend_image=args.image,
        idempotency_key=args.idempotency_key,
        **({"promote_from": args.promote_from} if args.promote_from else {}),
        **({"emergency_reason": args.emergency} if args.emergency else {}),
    )
    return _started(args, api, launch)


def cmd_promote(args: argparse.Namespace, api: ControllerApi) -> int:
    """The release a launch took into one environment, launched into the next: the same commit, the image by
    the digest that launch deployed, the same build (or its copy in the next environment's artifact bucket)."""
    source = api.get(args.launch_id)
    request, artifacts = source["request"], source.get("artifacts") or {}
    if source["status"] != "SUCCEEDED":
        raise UsageError(f"{args.launch_id} is {source['status']}: only a launch that SUCCEEDED is promoted")
    digest = artifacts.get("backend_digest")
    image = args.image or (_pinned(request["backend_image"], digest) if digest else request["backend_image"])
    launch = api.start(
        environment=args.to,
        version=request["version"],
        git_sha=request["git_sha"],
        frontend_artifact=args.frontend or request["frontend_artifact"],
        backend_image=image,
        promote_from=args.launch_id,
        **({"emergency_reason": args.emergency} if args.emergency else {}),
        idempotency_key=args.idempotency_key or f"launchctl/promote/{args.launch_id}/{args.to}",
    )
    return _started(args, api, launch)


def _pinned(image: str, digest: str) -> str:
    from chalicelib.domain.artifacts import pinned_image

    return pinned_image(image, digest)


def _started(args: argparse.Namespace, api: ControllerApi, launch: dict[str, Any]) -> int:
    launch_id = launch["launch_id"]
    if args.quiet:
        print(launch_id)  # for a script: ID=$(launchctl start ... -q)
        return EXIT_OK
    page = _page_link(api, launch_id)
    lines = [f"launch {launch_id} started: {launch['version']} into {launch['environment']} ({launch['status']})"]
    lines += [f"  page:   {page}"] if page else []
    lines += [f"  follow: launchctl status {launch_id} --watch"]
    _print(args, {**launch, "page": page}, "\n".join(lines))
    return EXIT_OK


def cmd_open(args: argparse.Namespace, api: ControllerApi) -> int:
    if bool(args.launch_id) == bool(args.env):
        print("error: give a launch id, or --env for the environment's list", file=sys.stderr)
        return EXIT_USAGE
    link = api.view_link(args.launch_id, args.env)
    if args.web:
        _open_in_browser(link["url"])
    _print(args, link, f"{link['url']}\n(read-only; anyone with the link may look until {link['expires_at']})")
    return EXIT_OK


def _exit_of(launch: dict[str, Any]) -> int:
    """A launch's exit code: its outcome once it has ended, 0 while it runs (as `gh run view --exit-status`)."""
    return _STATUS_EXIT.get(launch["status"], EXIT_ERROR) if is_final(launch) else EXIT_OK


def cmd_status(args: argparse.Namespace, api: ControllerApi) -> int:
    if args.web:
        _open_in_browser(api.view_link(args.launch_id)["url"])
        return EXIT_OK
    if not args.watch:
        looked = api.get(args.launch_id)
        text = "\n".join(
            [f"{looked['launch_id']}: {looked['status']} (stage {looked.get('stage')})"]
            + [format_event(event) for event in looked["timeline"]]
        )
        _print(args, looked, text)
        return _exit_of(looked)
    launch: dict[str, Any] = {}
    live = LiveDisplay() if sys.stdout.isatty() and not args.json else None

    def reached(launch: dict[str, Any]) -> bool:
        return is_final(launch) or (args.until is not None and launch["status"] == args.until)

    for current, new_events in api.follow(args.launch_id, reached, timeout=args.timeout, interval=args.interval):
        launch = current
        if live is not None:
            live.update(launch, [format_event(event) for event in new_events])
        elif not args.json:
            for event in new_events:
                print(format_event(event), flush=True)
    if args.json:
        print(json.dumps(launch, indent=2))
    else:
        print(f"{launch['launch_id']}: {launch['status']}")
    if args.until is not None and launch.get("status") == args.until:
        return EXIT_OK
    # Still running when the watch ran out of time: not an outcome.
    return _exit_of(launch) if is_final(launch) else EXIT_ERROR


def cmd_list(args: argparse.Namespace, api: ControllerApi) -> int:
    if args.web:
        if not args.env:
            raise UsageError("--web opens an environment's list: name it with --env")
        _open_in_browser(api.view_link(environment=args.env)["url"])
        return EXIT_OK
    page = api.list(args.limit, args.env, args.status, args.cursor)
    launches, cursor = page["launches"], page.get("next_cursor")
    while args.all and cursor:
        page = api.list(args.limit, args.env, args.status, cursor)
        launches, cursor = launches + page["launches"], page.get("next_cursor")
    rows = [_list_row(item) for item in launches]
    text = table(["launch", "version", "env", "status", "by", "started", "took"], rows) if rows else "no launches"
    if cursor:
        text += f"\nmore: launchctl list --cursor {cursor}" + (f" --env {args.env}" if args.env else "")
    _print(args, {"launches": launches, "next_cursor": cursor}, text)
    return EXIT_OK


def _list_row(item: dict[str, Any]) -> list[str]:
    status = item["status"] + (f" (rolled back by {item['rolled_back_by']})" if item.get("rolled_back_by") else "")
    began, last = moment(item["created_at"]), moment(item["updated_at"])
    took = span((last - began).total_seconds()) if began and last and item["status"] in FINAL_STATUSES else "running"
    by = str(item.get("requested_by") or "unknown")
    return [item["launch_id"], item["version"], item["environment"], status, by, ago(item["created_at"]), took]


def cmd_whoami(args: argparse.Namespace, api: ControllerApi) -> int:
    """Who the API takes you for, at which API, and what you may do where."""
    me = api.whoami()
    caller = me["caller"]
    lines = [f"{caller.get('person') or caller['name']} ({caller['kind']}: {caller['name']}) at {args.api}"]
    for place in me["environments"]:
        does = (["launch, abort, roll back"] if place["may_launch"] else []) + [
            f"approve as {', '.join(place['approves'])}" for _ in [0] if place["approves"]
        ]
        lines.append(f"  {place['environment']}: {'; '.join(does) or 'read only'}")
    if not me["environments"]:
        lines.append("  no environment's profile names you: you may not launch, approve or read launches")
    _print(args, {**me, "api": args.api}, "\n".join(lines))
    return EXIT_OK


def cmd_decide(args: argparse.Namespace, api: ControllerApi) -> int:
    result = api.decide(args.launch_id, args.role, args.command, args.comment, getattr(args, "confirm", []))
    states = ", ".join(f"{role} {state}" for role, state in result["approvals"].items())
    _print(args, result, f"{args.launch_id}: gate {result['gate']} ({states})")
    return EXIT_OK


def cmd_abort(args: argparse.Namespace, api: ControllerApi) -> int:
    result = api.abort(args.launch_id, args.reason)
    _print(args, result, f"{args.launch_id}: abort requested; it {result['then']}")
    return EXIT_OK


MARK = {"pass": "ok  ", "fail": "FAIL", "warn": "warn", "skipped": "skip"}


def preflight_table(report: dict[str, Any]) -> str:
    """The report as a person reads it: one line per check (its id, title and resource) by checklist section,
    and what was seen under each that did not pass."""
    from chalicelib.domain.progress import evidence_text

    lines = []
    known = ["Infrastructure", "Monitoring", "Security", "Performance", "Application"]
    sections = known + [c["section"] for c in report["checks"] if c["section"] not in known]
    for section in dict.fromkeys(sections):  # every section, the checklist's order first
        checks = [c for c in report["checks"] if c["section"] == section]
        if not checks:
            continue
        lines.append(f"{section}")
        for check in checks:
            lines.append(f"  {MARK[check['result']]} {check['id']:<34} {check['title']} ({check['resource']})")
            if check["result"] != "pass":  # what was seen, whole: the reason a person reads the row
                lines.append(f"       {check['severity']}: {evidence_text(check['evidence'])}")
    lines.append(report["summary"] + ("" if report["passed"] else ": a launch would be BLOCKED"))
    return "\n".join(lines)


def cmd_preflight(args: argparse.Namespace, api: ControllerApi) -> int:
    report = api.preflight(args.env, args.frontend, args.image, args.git_sha)
    _print(args, report, preflight_table(report))
    return EXIT_OK if report["passed"] else EXIT_STOPPED


def cmd_rollback(args: argparse.Namespace, api: ControllerApi) -> int:
    result = api.rollback(args.launch_id, args.reason)
    _print(
        args,
        result,
        f"rolling back {args.launch_id} as launch {result['launch_id']}; follow it: launchctl status "
        f"{result['launch_id']} --watch",
    )
    return EXIT_OK


def cmd_unlock(args: argparse.Namespace, api: ControllerApi) -> int:
    result = api.unlock(args.environment, args.reason)
    held = f" ({result['held_because']})" if result.get("held_because") else ""
    _print(args, result, f"{args.environment} unlocked; it was held by {result['was_held_by']}{held}")
    return EXIT_OK


def cmd_evidence(args: argparse.Namespace, api: ControllerApi) -> int:
    """The launch's evidence as one JSON document: to --output, or to stdout for a pipe."""
    document = api.evidence(args.target)
    text = json.dumps(document, indent=2)
    if not args.output:
        print(text)
        return EXIT_OK
    Path(args.output).write_text(text + "\n")
    sealed = document.get("seal") or {}
    through = sealed.get("statement", {}).get("sequence")
    print(
        f"wrote {args.output}: launch {document['launch_id']} ({document['status']}), {len(document['timeline'])} "
        + (f"events, sealed through event {through}" if through else "events, not sealed")
        + f"; check it: launchctl evidence verify {args.output}",
        file=sys.stderr,
    )
    return EXIT_OK


def cmd_evidence_verify(args: argparse.Namespace) -> int:
    """Check a launch's evidence offline: no call to the controller or to AWS."""
    from chalicelib.domain.evidence_chain import verify

    if not args.file:
        raise UsageError("verify needs the evidence file: launchctl evidence verify FILE")
    try:
        document = json.loads(Path(args.file).read_text())
        key = Path(args.public_key).read_bytes() if args.public_key else None
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {exc}") from None
    if not isinstance(document, dict):
        raise UsageError(f"{args.file} is not a launch's evidence: not a JSON object")
    found = verify(document, public_key=key)
    problem = found.problem
    lines = [
        f"launch {found.launch_id}: {found.events} events, {found.chained} chained"
        + (f", sealed through event {found.sealed_through}" if found.sealed_through else "")
        + (" with the pinned key" if found.key_pinned else ""),
        "holds: nothing was changed, removed or reordered since it was written"
        if problem is None
        else f"DOES NOT HOLD at {'event ' + str(problem.sequence) if problem.sequence else 'the seal'}: "
        f"{problem.reason}",
        *(f"note: {note}" for note in found.notes),
    ]
    _print(args, {**found.model_dump(mode="json"), "holds": found.ok}, "\n".join(lines))
    return EXIT_OK if found.ok else EXIT_EVIDENCE_BROKEN


def _local_stack(api: str) -> dict[str, str] | None:
    """What a local stack serving this API wrote about itself (its STS and outbox), if one does."""
    from launchctl.credentials import read_stack_file

    parts = urllib.parse.urlsplit(api)
    if parts.hostname not in LOOPBACK or parts.port is None:
        return None
    return read_stack_file(parts.port)


def cmd_outbox(args: argparse.Namespace) -> int:
    """The local stack's approval emails, for a person to open the links in a browser, and what the team's
    channel and the pager were sent (Chatbot's format, rendered as text)."""
    url = args.outbox or (_local_stack(args.api) or {}).get("outbox_url")
    if not url:
        print(f"error: no local stack serves {args.api}; start `launchctl local` or pass --outbox", file=sys.stderr)
        return EXIT_USAGE
    with urllib.request.urlopen(url, timeout=10) as response:
        outbox = json.loads(response.read())
    emails, channel = outbox["emails"], outbox.get("channel", [])
    if args.launch:
        emails = [mail for mail in emails if mail.get("launch_id") == args.launch]
        channel = [
            sent
            for sent in channel
            if sent["notification"].get("metadata", {}).get("additionalContext", {}).get("launch_id") == args.launch
        ]
    if args.to:
        emails = [mail for mail in emails if mail["to"].lower() == args.to.lower()]
        channel = []
    lines = [
        f"to {mail['to']} ({mail.get('launch_id')}, {mail.get('role')}): {mail['subject']}\n  {mail['link']}"
        for mail in emails
    ]
    for sent in channel:  # AWS Chatbot's custom notifications, as the channel would show them
        content = sent["notification"].get("content", {})
        lines.append(f"[{sent['topic']}] {content.get('title', sent['subject'])}")
        lines += [f"  {line}" for line in str(content.get("description", "")).splitlines()]
        lines += [f"  next: {step}" for step in content.get("nextSteps", [])]
    _print(args, {"emails": emails, "channel": channel}, "\n".join(lines) or "the outbox is empty")
    return EXIT_OK


def _aws_client(args: argparse.Namespace, service: str) -> Any:
    """A client with the caller's own AWS credentials (`--profile`); against the local stack serving
    `--api`, its moto with the local person's keys (the release engineer by default)."""
    from launchctl.credentials import RELEASE_ENGINEER, local_session

    local = _local_stack(args.api)
    if local is not None:
        port = urllib.parse.urlsplit(args.api).port or 80
        return local_session(args.profile or RELEASE_ENGINEER, port).client(service, endpoint_url=local["moto_url"])
    import boto3

    return boto3.session.Session(profile_name=args.profile).client(service)


def _approvals_topic(args: argparse.Namespace) -> str | None:
    return args.topic or (_local_stack(args.api) or {}).get("approvals_topic")


def cmd_approvers(args: argparse.Namespace) -> int:
    """Subscribe the stored profile's approvers to the approvals topic, or confirm one subscription."""
    from chalicelib.domain.profiles import ProfileError
    from chalicelib.platform.profile_store import stored_version
    from launchctl.approvers import confirm, sync_subscriptions

    topic = _approvals_topic(args)
    if not topic:
        print("error: name the approvals topic with --topic (the stack's ApprovalsTopicArn)", file=sys.stderr)
        return EXIT_USAGE
    sns = _aws_client(args, "sns")
    if args.action == "sync":
        try:
            stored = stored_version(_aws_client(args, "ssm"), args.env, path=args.path)
        except ProfileError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        result: Any = sync_subscriptions(sns, topic, stored.profile)
        text = (
            f"{args.env} version {stored.version}: subscribed {', '.join(result['subscribed']) or 'nobody new'}; "
            f"refreshed {len(result['refreshed'])}"
        )
    else:
        result = {"subscription_arn": confirm(sns, topic, args.link)}
        text = f"confirmed {result['subscription_arn']} (unsubscribing now needs AWS credentials)"
    _print(args, result, text)
    return EXIT_OK


def cmd_profile(args: argparse.Namespace) -> int:
    """Environment profiles: validate a file; push one as the next stored version; show or diff a version."""
    from chalicelib.domain.profiles import ProfileError

    try:
        return _PROFILE_ACTIONS[args.action](args)
    except ProfileError as exc:
        _print(args, {"valid": False, "error": str(exc)}, f"invalid: {exc}")
        return EXIT_USAGE
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _profile_file(args: argparse.Namespace) -> Any:
    from chalicelib.domain.profiles import ProfileError, load_profile_file

    profile = load_profile_file(Path(args.file))
    if getattr(args, "env", None) and profile.name != args.env:
        raise ProfileError(f"{args.file}: name: {profile.name!r} is not the environment named, {args.env!r}")
    return profile


def _version_asked(versions: list[Any], asked: int | None) -> Any:
    """The version of the history asked for (the newest when none is)."""
    return next(v for v in versions if v.version == (asked or versions[-1].version))


def _pushed(version: Any) -> dict[str, Any]:
    """Which version of which environment's profile, and who pushed it when: what every answer about one says."""
    return {
        "environment": version.environment,
        "version": version.version,
        "pushed_at": version.pushed_at.isoformat(),
        "pushed_by": version.pushed_by,
    }


def _bad_answer(version: Any) -> dict[str, Any]:
    """A version of the history that is not a valid profile, as show and diff report it."""
    return {**_pushed(version), "valid": False, "problem": version.problem}


def _stored_answer(stored: Any) -> dict[str, Any]:
    return {**_pushed(stored), "digest": stored.profile.digest}


def _profile_validate(args: argparse.Namespace) -> int:
    profile = _profile_file(args)
    _print(
        args,
        {"valid": True, "environment": profile.name, "digest": profile.digest},
        f"{args.file}: a valid profile of {profile.name} ({profile.digest})",
    )
    return EXIT_OK


def _profile_push(args: argparse.Namespace) -> int:
    """Validate, then store as the next version; approvers changed: their subscriptions follow the stored
    profile. Nothing changed: nothing pushed (a version is a change someone made)."""
    from chalicelib.domain.profiles import ProfileError, UnknownEnvironment
    from chalicelib.platform.profile_store import (
        approvers_of,
        changes,
        differences,
        history,
        push_profile,
        stored_version,
    )
    from launchctl.approvers import sync_subscriptions

    profile = _profile_file(args)
    ssm = _aws_client(args, "ssm")
    newest_bad = False
    try:
        before: Any = stored_version(ssm, profile.name, path=args.path)
    except UnknownEnvironment:
        before = None
    except ProfileError as exc:
        # The newest version is not a valid profile: this push is what mends it. The approvers' subscriptions
        # followed the newest valid version, so that is what the push is compared with.
        print(f"note: the stored newest version is not a valid profile ({exc}); pushing over it", file=sys.stderr)
        newest_bad = True
        valid = [v.stored for v in history(ssm, profile.name, args.path) if v.stored is not None]
        before = valid[-1] if valid else None
    if before is not None and before.profile == profile and not newest_bad:
        _print(
            args, {"pushed": False, **_stored_answer(before)}, f"{profile.name}: unchanged at version {before.version}"
        )
        return EXIT_OK
    approvers_change = before is None or approvers_of(before.profile) != approvers_of(profile)
    topic = _approvals_topic(args)
    if approvers_change and not topic:
        print(
            "error: the approvers change: name the approvals topic with --topic (the stack's ApprovalsTopicArn) "
            "so that their subscriptions follow; nothing was pushed",
            file=sys.stderr,
        )
        return EXIT_USAGE
    stored = push_profile(ssm, profile, args.path)
    lines = differences(before.profile, stored.profile) if before is not None else ["(first version)"]
    changed = changes(before.profile, stored.profile) if before is not None else None
    answer: dict[str, Any] = {"pushed": True, **_stored_answer(stored), "first": before is None, "changes": changed}
    if approvers_change and topic:
        answer["approvers"] = sync_subscriptions(_aws_client(args, "sns"), topic, stored.profile)
    lines = [f"{profile.name}: pushed version {stored.version} as {stored.pushed_by}", *[f"  {line}" for line in lines]]
    if "approvers" in answer:
        lines.append(f"approvers subscribed: {', '.join(answer['approvers']['subscribed']) or 'nobody new'}")
    _print(args, answer, "\n".join(lines))
    return EXIT_OK


def _profile_show(args: argparse.Namespace) -> int:
    from chalicelib.domain.profiles import ProfileError, UnknownEnvironment
    from chalicelib.platform.profile_store import history, stored_version

    ssm = _aws_client(args, "ssm")
    versions = history(ssm, args.env, args.path)
    if args.history:
        rows = [
            f"{v.version:>4}  {v.pushed_at:%Y-%m-%d %H:%M:%S}  {v.pushed_by}  "
            + (v.stored.profile.digest if v.stored else f"NOT A VALID PROFILE: {v.problem}")
            for v in versions
        ]
        answers = [_stored_answer(v.stored) if v.stored else _bad_answer(v) for v in versions]
        _print(args, answers, "\n".join(rows))
        return EXIT_OK
    try:
        stored = stored_version(ssm, args.env, args.version, args.path)
    except UnknownEnvironment:
        raise
    except ProfileError:
        bad = _version_asked(versions, args.version)
        _print(
            args, _bad_answer(bad), f"# {bad.environment} version {bad.version} is not a valid profile: {bad.problem}"
        )
        return EXIT_ERROR
    header = f"# {stored.environment} version {stored.version}, pushed {stored.pushed_at:%Y-%m-%d %H:%M:%S} by "
    _print(
        args,
        {**_stored_answer(stored), "profile": stored.profile.model_dump(mode="json")},
        header + f"{stored.pushed_by}\n{stored.profile.model_dump_json(indent=2)}",
    )
    return EXIT_OK


def _profile_diff(args: argparse.Namespace) -> int:
    from chalicelib.domain.profiles import ProfileError, UnknownEnvironment
    from chalicelib.platform.profile_store import changes, differences, history, stored_version

    profile = _profile_file(args)
    ssm = _aws_client(args, "ssm")
    try:
        stored = stored_version(ssm, args.env, args.version, args.path)
    except UnknownEnvironment:
        raise
    except ProfileError:
        bad = _version_asked(history(ssm, args.env, args.path), args.version)
        text = f"{args.env} version {bad.version} is not a valid profile ({bad.problem}): pushing {args.file} mends it"
        _print(args, {**_bad_answer(bad), "changes": None}, text)
        return EXIT_ERROR
    lines = differences(stored.profile, profile)
    text = "\n".join(lines) or f"{args.file} is what {args.env} version {stored.version} stores"
    _print(args, {**_stored_answer(stored), "changes": changes(stored.profile, profile)}, text)
    return EXIT_OK


def _profile_role_parameters(args: argparse.Namespace) -> int:
    """The target-account template's parameters for the profile, as `--parameter-overrides` takes them."""
    from launchctl.build.target_role import role_parameters

    values = role_parameters(_profile_file(args))
    _print(args, values, " ".join(f"{key}={value}" for key, value in values.items()))
    return EXIT_OK


_PROFILE_ACTIONS: dict[str, Callable[[argparse.Namespace], int]] = {
    "role-parameters": _profile_role_parameters,
    "validate": _profile_validate,
    "push": _profile_push,
    "show": _profile_show,
    "diff": _profile_diff,
}


def cmd_local(args: argparse.Namespace) -> int:
    if args.local_action == "publish":
        done = _control(args, "publish", {"version": args.version, "defect": args.defect})
        broken = f" (broken: {done['defect']})" if done.get("defect") else ""
        text = (
            f"published {done['version']}{broken}\nstart it: launchctl start --env local --version {done['version']} "
            f"--git-sha abc1234 --frontend {done['frontend']} --image {done['image']}"
        )
        _print(args, done, text)
        return EXIT_OK
    if args.local_action == "alarm":
        if not args.name:
            raise UsageError("name the alarm: launchctl local alarm NAME [--ok]")
        done = _control(args, "alarm", {"name": args.name, "state": "OK" if args.ok else "ALARM"})
        _print(args, done, f"{done['alarm']} is {done['state']}")
        return EXIT_OK
    return _local_aws(["local", *(f"--break={check}" for check in args.breaks)])


def _control(args: argparse.Namespace, name: str, asked: dict[str, Any]) -> dict[str, Any]:
    """One of the running local stack's controls (beside its outbox, on loopback)."""
    url = (_local_stack(args.api) or {}).get("control_url")
    if not url:
        raise UsageError(f"no local stack serves {args.api}: start `launchctl local` in another terminal first")
    request = urllib.request.Request(
        f"{url}/{name}", data=json.dumps(asked).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer
    except urllib.error.HTTPError as exc:
        raise UsageError(json.loads(exc.read() or b"{}").get("error", str(exc))) from None


def cmd_demo(args: argparse.Namespace) -> int:
    return _local_aws(["demo"])


def _local_aws(argv: list[str]) -> int:
    """The embedded local AWS is a development package (emulator/), installed beside the controller by `make`,
    never with the CLI."""
    try:
        from localaws.__main__ import main as local_aws  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        print(
            "error: the local AWS is not installed: it is a development tool; from a clone of the repository,"
            " `make local` or `make demo` install and run it",
            file=sys.stderr,
        )
        return EXIT_USAGE
    code: int = local_aws(argv)
    return code


def _credential(args: argparse.Namespace) -> Callable[[], str]:
    """LAUNCHCTL_TOKEN (a bearer token, e.g. a GitHub OIDC token) or an IAM token from AWS credentials:
    the local stack's people's keys when talking to it, the caller's own (`--profile`) otherwise."""
    from launchctl.credentials import RELEASE_ENGINEER, IamToken, StaticToken, local_session

    token = os.environ.get("LAUNCHCTL_TOKEN")
    if token:
        return StaticToken(token)
    local = _local_stack(args.api)
    if local is not None:
        port = urllib.parse.urlsplit(args.api).port or 80
        return IamToken(local_session(args.profile or RELEASE_ENGINEER, port), audience_of(args), local["moto_url"])
    import boto3

    session = boto3.session.Session(profile_name=args.profile)
    if session.get_credentials() is None:
        raise OSError("no AWS credentials found (set AWS_PROFILE, use --profile, or sign in with aws sso login)")
    return IamToken(session, audience_of(args), args.sts_endpoint)


def audience_of(args: argparse.Namespace) -> str:
    """The audience tokens are bound to: the one given, else the API's host (what a controller expects by
    default, so a token for one controller is no good at another)."""
    return str(args.audience or urllib.parse.urlsplit(args.api).netloc)


def _common_options(default: Any) -> Parser:
    """The options every command takes, before or after its name (`launchctl preflight --env x --json`).

    The root parser sets their defaults; a subcommand's copy has none (SUPPRESS), so one given before the
    command is not reset by the command's parser."""
    options = Parser(add_help=False)
    options.add_argument(
        "--api",
        default=default(os.environ.get("LAUNCHCTL_API_URL", DEFAULT_API)),
        help="the controller's API URL, stage path included",
    )
    options.add_argument(
        "--profile",
        default=default(os.environ.get("AWS_PROFILE")),
        help="the AWS profile whose credentials sign the calls; on the local stack, the person (email) to act as",
    )
    options.add_argument(
        "--audience",
        default=default(os.environ.get("LAUNCHCTL_AUDIENCE")),
        help="the controller's audience, bound into every token (default: the API's host, which the controller "
        "expects unless its stack names another with OidcAudience)",
    )
    options.add_argument(
        "--sts-endpoint",
        default=default(os.environ.get("LAUNCHCTL_STS_ENDPOINT")),
        help="the STS endpoint the controller trusts (default: your region's)",
    )
    options.add_argument("--json", action="store_true", default=default(False), help="print JSON for scripts")
    options.add_argument(
        "--fields",
        default=default(None),
        metavar="FIELD,...",
        help="print only these fields of the answer, as JSON (each launch's, for a list)",
    )
    return options


def _emergency_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--emergency",
        metavar="REASON",
        help="why it cannot wait for the environment's next deploy window: outside one, the profile's emergency "
        "role signs off as well, and it pages (docs/windows.md)",
    )


def parser() -> argparse.ArgumentParser:
    from chalicelib.domain.models import LaunchStatus
    from chalicelib.domain.profiles import CHECKLIST_ATTESTATIONS, ApprovalPolicy

    statuses = [str(status) for status in LaunchStatus]

    # The checklist's roles and attestations, named in the help (an environment's profile may name others).
    checklist_roles = ", ".join(ApprovalPolicy.model_fields["roles"].default)
    checklist_attestations = ", ".join(attestation.id for attestation in CHECKLIST_ATTESTATIONS)
    root = Parser(prog="launchctl", description=__doc__, parents=[_common_options(lambda v: v)])
    common = _common_options(lambda _: argparse.SUPPRESS)
    commands = root.add_subparsers(dest="command", required=True)

    def command(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return commands.add_parser(name, parents=[common], **kwargs)

    start = command("start", help="start a launch")
    start.add_argument("--env", required=True, help="the environment, as its profile names it (e.g. production)")
    start.add_argument("--version", required=True, help="the release's version, e.g. 1.2.0")
    start.add_argument(
        "--git-sha", required=True, help="the release's commit: 7 to 40 lower-case hexadecimal characters"
    )
    start.add_argument("--frontend", required=True, help="s3://bucket/prefix/ of the static build")
    start.add_argument("--image", required=True, help="the backend container image")
    start.add_argument("--idempotency-key", help="a retried start with the same key returns the same launch")
    start.add_argument(
        "--promote-from",
        metavar="LAUNCH_ID",
        help="the launch that took this release into the environment the profile promotes from ([promotion])",
    )
    start.add_argument(
        "-q", "--quiet", action="store_true", help="print only the launch's id (ID=$(launchctl start ... -q))"
    )
    _emergency_option(start)

    promote = command(
        "promote",
        help="launch the release a successful launch deployed into the next environment (its profile's [promotion])",
    )
    promote.add_argument("launch_id", help="the launch that SUCCEEDED in the environment promoted from")
    promote.add_argument("--to", required=True, metavar="ENV", help="the environment to launch it into")
    promote.add_argument(
        "--frontend", help="the same build's copy in ENV's artifact bucket (default: where the launch took it from)"
    )
    promote.add_argument(
        "--image",
        help="the same image as ENV pulls it, e.g. its registry's replica (default: the image pinned to the digest "
        "the launch deployed)",
    )
    promote.add_argument(
        "--idempotency-key", help="default: one per launch and environment, so a promotion repeated is the same"
    )
    promote.add_argument("-q", "--quiet", action="store_true", help="print only the new launch's id")
    _emergency_option(promote)

    status = command("status", help="show a launch, or follow it with --watch")
    status.add_argument("launch_id", help="the launch's id, as start and list print it")
    status.add_argument("--watch", action="store_true", help="follow it to its end, exiting with its outcome")
    status.add_argument("--timeout", type=float, default=4 * 3600, help="seconds --watch follows before giving up")
    status.add_argument("--interval", type=float, default=3.0, help="seconds between polls with --watch")
    status.add_argument("--web", action="store_true", help="open the launch's page in your browser")
    status.add_argument(
        "--until",
        choices=[status for status in statuses if status not in FINAL_STATUSES],
        metavar="STATUS",
        help="with --watch: stop when the launch reaches this status (e.g. AWAITING_APPROVAL), exit 0; "
        "a launch that ends first exits with its outcome",
    )

    opening = command("open", help="print a signed, expiring link to a launch's page (or --env: the list page)")
    opening.add_argument("launch_id", nargs="?", help="the launch whose page to link")
    opening.add_argument("--env", help="the environment's list of recent launches instead")
    opening.add_argument("--web", action="store_true", help="open the link in your browser too")

    listing = command("list", help="recent launches, newest first")
    listing.add_argument("--limit", type=int, default=20, help="launches per page (1 to 100)")
    listing.add_argument("--env", help="only launches into this environment")
    listing.add_argument(
        "--status", choices=statuses, metavar="STATUS", help=f"only launches with this status: {', '.join(statuses)}"
    )
    listing.add_argument("--cursor", help="the page after the one that printed this cursor")
    listing.add_argument("--all", action="store_true", help="every page, not only the first")
    listing.add_argument("--web", action="store_true", help="open the environment's list page (with --env)")

    for verb in ("approve", "reject"):
        decide = command(verb, help=f"{verb} a launch for one role")
        decide.add_argument("launch_id", help="the launch at its approval gate")
        decide.add_argument(
            "--role",
            required=True,
            help="the role you sign off for, as the environment's profile names it (the checklist's: "
            f"{checklist_roles})",
        )
        decide.add_argument(
            "--comment",
            required=verb == "reject",
            default="",
            help="why: a rejection needs one (the requester reads it)" if verb == "reject" else "a note for the record",
        )
        if verb == "approve":
            decide.add_argument(
                "--confirm",
                action="append",
                default=[],
                metavar="ATTESTATION",
                help="an attestation you confirm, once for each the profile asks (the checklist's: "
                f"{checklist_attestations})",
            )

    abort = command("abort", help="stop a launch: before a change it ends, after one it rolls back")
    abort.add_argument("launch_id", help="the launch's id")
    abort.add_argument("--reason", required=True, help="why: written on the launch's timeline (at least 5 characters)")

    preflight = command("preflight", help="run the checklist's checks against an environment now, without a launch")
    preflight.add_argument("--env", required=True, help="the environment to check, as its profile names it")
    preflight.add_argument("--frontend", help="also check this build (s3://bucket/prefix/) against the bundle budget")
    preflight.add_argument("--image", help="also check this backend image exists in ECR")
    preflight.add_argument("--git-sha", help="also check the release's required GitHub checks passed on this commit")

    rollback = command(
        "rollback", help="take a launch that succeeded back out (within the profile's window), as its own launch"
    )
    rollback.add_argument("launch_id", help="the launch that succeeded, to take back out")
    rollback.add_argument("--reason", required=True, help="why: written on both launches' timelines")

    unlock = command("unlock", help="release an environment a failed rollback left locked, once it is sound again")
    unlock.add_argument("environment", help="the environment a failed rollback left locked")
    unlock.add_argument("--reason", required=True, help="what was done by hand; written to the launch's timeline")

    evidence = command(
        "evidence",
        help="a launch's whole record with its timeline's hash chain and seal (`evidence ID`), or check one "
        "offline (`evidence verify FILE`)",
    )
    evidence.add_argument("target", metavar="ID|verify", help="the launch's id, or `verify` to check a file")
    evidence.add_argument("file", nargs="?", help="verify: the evidence file `launchctl evidence ID -o FILE` wrote")
    evidence.add_argument("-o", "--output", help="write the evidence to this file (default: stdout)")
    evidence.add_argument(
        "--public-key",
        metavar="FILE",
        help="verify: the controller's evidence key's public half (DER or PEM), to prove who sealed it",
    )

    outbox = command("outbox", help="the approval emails of a running `launchctl local`")
    outbox.add_argument("--outbox", help="the local outbox's URL (default: the local stack's, found by --api)")
    outbox.add_argument("--launch", metavar="LAUNCH_ID", help="only what was sent about this launch")
    outbox.add_argument("--to", metavar="EMAIL", help="only the emails to this person (the channel is left out)")

    topic = Parser(add_help=False)
    topic.add_argument(
        "--topic",
        default=os.environ.get("LAUNCH_APPROVALS_TOPIC_ARN"),
        help="the approvals topic ARN, the stack's ApprovalsTopicArn (default: $LAUNCH_APPROVALS_TOPIC_ARN; "
        "the local stack's own)",
    )
    topic.add_argument(
        "--path",
        default=os.environ.get("LAUNCH_PROFILES_PATH", "/launch-controller/profiles"),
        help="the Parameter Store path of the controller's profiles, /<NamePrefix>/profiles",
    )
    approvers = commands.add_parser(
        "approvers", parents=[common, topic], help="approvers' email subscriptions (uses your AWS credentials)"
    )
    approvers.add_argument(
        "action", choices=["sync", "confirm"], help="sync: subscribe the stored approvers; confirm: one subscription"
    )
    approvers.add_argument("--env", help="sync: the environment whose stored approvers to subscribe")
    approvers.add_argument("--link", help="confirm: the link from AWS's confirmation email")

    profile = commands.add_parser(
        "profile", help="environment profiles: validate a file, push it as the next version, show or diff a stored one"
    )
    actions = profile.add_subparsers(dest="action", required=True)

    def action(name: str, help: str, file: bool = False, env: bool = True) -> argparse.ArgumentParser:
        parsed = actions.add_parser(name, parents=[common, topic], help=help)
        if file:
            parsed.add_argument(
                "file", help="the profile (.toml, or .json as tools write it), named after its environment"
            )
        if env:
            parsed.add_argument("--env", required=True, help="the environment")
        return parsed

    action("validate", "check a profile file with the controller's own model", file=True, env=False)
    action("push", "validate a profile file and store it as the environment's next version", file=True)
    show = action("show", "a stored version of the environment's profile, who pushed it and when")
    show.add_argument("--version", type=int, help="this stored version (default: the newest)")
    show.add_argument("--history", action="store_true", help="every version kept, who pushed it and when")
    action(
        "role-parameters",
        "the parameters of deploy/target-account-role.json for the profile's environment",
        file=True,
        env=False,
    )
    diff = action("diff", "what a profile file would change in the stored version", file=True)
    diff.add_argument("--version", type=int, help="compare with this stored version (default: the newest)")

    local = command(
        "local",
        help="run the embedded local AWS and the API until Ctrl-C; or, beside it, publish a release or set an alarm",
    )
    local.add_argument(
        "--break",
        dest="breaks",
        action="append",
        default=[],
        metavar="CHECK_ID",
        help="break one preflight item after start-up (repeatable), to see a launch refused or warned",
    )
    beside = local.add_subparsers(dest="local_action", required=False, metavar="{publish,alarm}")
    publish = beside.add_parser(
        "publish", parents=[common], help="publish a release (its build and image) to the local stack"
    )
    publish.add_argument("version", help="the release's version, e.g. 1.2.0")
    publish.add_argument(
        "--defect",
        choices=["unhealthy", "silent", "broken-journey", "flaky"],
        help="break the release: unhealthy (the smoke test fails), silent (no business metrics: the bake breaches), "
        "broken-journey (the canaries fail), flaky (one page request in five fails)",
    )
    alarm = beside.add_parser(
        "alarm", parents=[common], help="set one of the local environment's alarms (a bake breach)"
    )
    alarm.add_argument("name", help="the alarm's name (launchctl local alarm --list names them)", nargs="?")
    alarm.add_argument("--ok", action="store_true", help="set it back to OK")
    command("demo", help="run four launches on the embedded local AWS and show what happened")
    command("whoami", help="who the API takes you for, at which API, and what you may do where")
    shells = command("completion", help='a shell completion script: eval "$(launchctl completion bash)"')
    shells.add_argument("shell", choices=["bash", "zsh"], help="the shell whose script to print")
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return _dispatch(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "local":
        return cmd_local(args)
    if args.command == "demo":
        return cmd_demo(args)
    if args.command == "completion":
        print(completion(parser(), args.shell), end="")
        return EXIT_OK
    if args.command == "outbox":
        return cmd_outbox(args)
    if args.command == "evidence" and args.target == "verify":
        return cmd_evidence_verify(args)
    if args.command == "profile":
        return cmd_profile(args)
    if args.command == "approvers":
        if (args.action == "sync" and not args.env) or (args.action == "confirm" and not args.link):
            print("error: sync needs --env, confirm needs --link", file=sys.stderr)
            return EXIT_USAGE
        return cmd_approvers(args)
    try:
        api = ControllerApi(args.api, _credential(args))
    except ProfileNotFound:
        import boto3

        known = ", ".join(boto3.session.Session().available_profiles) or "none"
        print(
            f"error: no AWS profile named {args.profile!r} in your AWS config (~/.aws/config, ~/.aws/credentials); "
            f"the profiles there: {known}. Name one with --profile or AWS_PROFILE, or sign in: aws sso login",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except (OSError, BotoCoreError) as exc:
        print(f"error: no credentials to call {args.api} with: {exc}", file=sys.stderr)
        return EXIT_ERROR
    handlers = {
        "start": cmd_start,
        "promote": cmd_promote,
        "status": cmd_status,
        "open": cmd_open,
        "list": cmd_list,
        "approve": cmd_decide,
        "reject": cmd_decide,
        "unlock": cmd_unlock,
        "abort": cmd_abort,
        "rollback": cmd_rollback,
        "preflight": cmd_preflight,
        "whoami": cmd_whoami,
        "evidence": cmd_evidence,
    }
    try:
        return handlers[args.command](args, api)
    except ApiError as exc:
        print(json.dumps(exc.body, indent=2) if args.json else f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE if 400 <= exc.status < 500 else EXIT_ERROR
    except OSError as exc:
        print(f"error: cannot reach the controller at {args.api}: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
