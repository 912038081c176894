"""`python -m localaws demo|local`: the demo's launches, or the local stack until Ctrl-C (make demo, make local)."""

from __future__ import annotations

import sys
import time


def run_local(breaks: list[str]) -> int:
    from launchctl.credentials import RELEASE_ENGINEER
    from localaws.infrastructure import BREAKERS, GITHUB_ITEMS
    from localaws.stack import LocalStack

    known = {*BREAKERS, *GITHUB_ITEMS}
    unknown = sorted(set(breaks) - known)
    if unknown:
        print(f"error: no check {', '.join(unknown)}; known: {', '.join(sorted(known))}", file=sys.stderr)
        return 2
    with LocalStack() as stack:
        assert stack.site is not None
        for check_id in breaks:
            stack.break_check(check_id)
            print(f"broken on purpose:  {check_id}")
        print(f"local AWS (moto):   {stack.moto_url}")
        print(f"controller API:     {stack.api_url}")
        print(f"sample site:        {stack.site.url}  (WebSocket {stack.site.websocket_url})")
        print(f"state machine:      {stack.state_machine_arn}")
        print("environment:        local (profiles/local.toml, stored: launchctl profile show --env local)")
        print("try: launchctl start --env local --version 1.1.0 --git-sha abc1234 \\")
        print(f"       --frontend {stack.publish_release('1.1.0')} --image {_image('1.1.0')}")
        print("another release:    launchctl local publish 1.2.0 [--defect unhealthy|silent|broken-journey]")
        print(f"a bake breach:      launchctl local alarm {stack.profile.bake.alarm_names[0]}  (--ok to clear it)")
        assert stack.outbox_server is not None
        print(f"approval emails:    {stack.outbox_server.url}  (launchctl outbox; new ones are printed here)")
        assert stack.traces is not None
        print(f"metrics (EMF):      {stack.metrics_file}  (a JSON line per metric set, as CloudWatch Logs gets it)")
        print(f"traces (X-Ray):     {stack.traces.path}  (a JSON line per segment; one trace per launch)")
        people = ", ".join(person for person in stack.people if person != RELEASE_ENGINEER)
        print(f"you are:            {RELEASE_ENGINEER} (IAM user; keys in {stack.credentials_file})")
        print(f"approvers:          {people}: launchctl --profile PERSON approve ID --role ROLE ...")
        assert stack.issuer is not None
        print(f"GitHub OIDC issuer: {stack.issuer.url} (jobs for the action: see tests/integration/test_action.py)")
        print("Ctrl-C stops.", flush=True)
        shown = 0
        try:
            while True:
                time.sleep(1)
                emails = stack.outbox()
                for mail in emails[shown:]:
                    print(f"\n[email to {mail['to']}] {mail['subject']}\n  open: {mail['link']}", flush=True)
                shown = len(emails)
        except KeyboardInterrupt:
            return 0


def _image(version: str) -> str:
    from localaws.infrastructure import backend_image

    return backend_image(version)


def main(argv: list[str] | None = None) -> int:
    """`demo` or `local [--break CHECK_ID ...]`, read by the CLI's own parser (`launchctl demo|local` are these)."""
    from launchctl.cli import parser

    args = parser().parse_args(argv)
    if args.command == "local" and args.local_action:
        from launchctl.cli import main as launchctl  # beside a running stack: the CLI's own command

        return launchctl(argv)
    if args.command == "local":
        return run_local(args.breaks)
    if args.command == "demo":
        from localaws.demo import run_demo

        return run_demo()
    print("usage: python -m localaws demo | local [--break CHECK_ID ...]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
