"""Canary and linear rollouts on the local stack: ECS's own strategy moves the traffic, the controller's
lifecycle hook judges each step against the old revision over the same seconds, and a worse release is
rolled back by ECS at the step that found it."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from localaws import key_value_store
from localaws.infrastructure import backend_image

from chalicelib.stages.release_switch import (
    CANARY_RELEASE_KEY,
    LIVE_RELEASE_KEY,
    RELEASES,
    release_prefix,
)
from launchctl.client import ControllerApi, is_final
from tests.integration.helpers import approve_all, drive, lock_holder, next_version, start, wait

pytestmark = pytest.mark.integration


def in_steps(stack: Any, **traffic: Any) -> None:
    """The local profile with the backend's traffic moved in steps (the stack's restore puts it back)."""
    stack.shift_traffic_in_steps(**traffic)


def steps_of(launch: dict[str, Any]) -> list[tuple[float, str]]:
    """Each judged step: the release's share and the outcome."""
    return [
        (event["details"]["weight"], event["details"]["outcome"])
        for event in launch["timeline"]
        if event["kind"] == "traffic_step" and event["details"].get("outcome")
    ]


def test_a_canary_worse_than_its_baseline_is_rolled_back_by_ecs_at_its_first_step_frontend_and_backend(
    stack: Any, api: ControllerApi
) -> None:
    frontend = stack.profile.frontend.model_copy(update={"layout": "releases", "canary": True})
    stack.shift_traffic_in_steps(frontend=frontend)
    before = stack.service_task_definition()
    version = next_version()
    stack.site.flaky_images.add(backend_image(version))
    launch = drive(stack, api, version)
    assert launch["status"] == "ROLLED_BACK", launch["timeline"]
    assert steps_of(launch) == [(10.0, "fail")], launch["timeline"]
    # The frontend's canary followed the step, and the hook closed it in the answer that failed the step: its
    # users were back on the live release as ECS began moving the traffic back.
    assert stack.faults.calls[("judge_traffic_step", "cloudfront-keyvaluestore.PutKey")] >= 1
    assert stack.faults.calls[("judge_traffic_step", "cloudfront-keyvaluestore.DeleteKey")] == 2
    store = stack.profile.frontend.key_value_store_arn
    assert key_value_store.value_of(store, CANARY_RELEASE_KEY) is None
    assert key_value_store.value_of(store, LIVE_RELEASE_KEY) is None  # as before the launch: the bucket's root
    judged = next(e for e in launch["timeline"] if e["kind"] == "traffic_step" and e["details"].get("outcome"))
    assert judged["details"]["error_p_value"] < 0.05
    assert judged["details"]["new"]["errors"] > 0
    assert judged["details"]["old"]["errors"] == 0
    assert "ECS deployment rolled back" in str(launch["error"]), launch["error"]
    assert stack.service_task_definition() == before
    assert lock_holder() is None
    # What the release served, counted on its own target group from its step to the backend's restore.
    exposure = next(e for e in launch["timeline"] if e["kind"] == "finished")["details"]["exposure"]
    assert exposure["upper_bound"] is False
    assert exposure["requests"] >= judged["details"]["new"]["requests"]
    assert 0 < exposure["errors"] < exposure["requests"]


def test_a_linear_rollout_as_good_as_its_baseline_takes_every_step_to_all_the_traffic(
    stack: Any, api: ControllerApi
) -> None:
    in_steps(stack, shift="linear", linear_step_percent=50.0)
    launch = drive(stack, api, next_version())
    assert launch["status"] == "SUCCEEDED", launch["timeline"]
    assert steps_of(launch) == [(50.0, "pass"), (100.0, "pass")]
    balancer = stack.environment_client("ecs").describe_services(
        cluster=stack.profile.backend.cluster, services=[stack.profile.backend.service]
    )["services"][0]["loadBalancers"][0]
    assert balancer["targetGroupArn"].split("/")[-2].endswith("green")  # the release's group serves production now


def test_a_hook_killed_mid_step_makes_ecs_roll_back_and_the_launch_undoes_the_rest(
    stack: Any, api: ControllerApi
) -> None:
    """ECS does not invoke a hook that failed again: it rolls the deployment back (its documentation's rule for a
    hook that returns no hookStatus or fails), and the launch rolls back what else it changed."""
    in_steps(stack)
    before = stack.service_task_definition()
    killed = stack.faults.add("judge_traffic_step", "dynamodb.Query", "timeout")
    launch = drive(stack, api, next_version())
    assert killed.fired == 1
    assert launch["status"] == "ROLLED_BACK", launch["timeline"]
    assert "a lifecycle hook answered None at PRODUCTION_TRAFFIC_SHIFT" in str(launch["error"]), launch["error"]
    assert stack.service_task_definition() == before
    assert lock_holder() is None


def has_event(item: dict[str, Any], kind: str) -> bool:
    return any(event["kind"] == kind for event in item["timeline"])


def judged_steps(item: dict[str, Any]) -> int:
    return len(steps_of(item))


def test_a_release_that_turns_bad_after_its_first_step_fails_at_the_later_step_and_ecs_rolls_it_back(
    stack: Any, api: ControllerApi
) -> None:
    """Its first step passes; from then on it fails one request in five: the step that gives it all the
    traffic has no old revision to compare with, and the bake's threshold fails it."""
    in_steps(stack, shift="linear", linear_step_percent=50.0)
    before = stack.service_task_definition()
    version = next_version()
    launch_id = start(stack, api, version)
    approve_all(stack, api, launch_id)
    first = wait(api, launch_id, lambda item: judged_steps(item) >= 1 or is_final(item))
    assert steps_of(first) == [(50.0, "pass")], first["timeline"]
    stack.site.flaky_images.add(backend_image(version))
    launch = wait(api, launch_id)
    assert launch["status"] == "ROLLED_BACK", launch["timeline"]
    assert steps_of(launch) == [(50.0, "pass"), (100.0, "fail")], launch["timeline"]
    assert stack.service_task_definition() == before
    assert lock_holder() is None


def test_an_abort_mid_step_rolls_the_service_back_and_the_rest_with_it(stack: Any, api: ControllerApi) -> None:
    """The abort reaches the launch while ECS holds the canary's step: the launch rolls back at once (the
    service's rollback supersedes ECS's deployment); the hook would fail the step at its next callback."""
    in_steps(stack)
    before = stack.service_task_definition()
    launch_id = start(stack, api, next_version())
    approve_all(stack, api, launch_id)
    watching = wait(
        api, launch_id, lambda item: any(e["kind"] == "traffic_step" for e in item["timeline"]) or is_final(item)
    )
    assert watching["status"] == "DEPLOYING", watching["timeline"]
    api.abort(launch_id, "the on-call saw checkout errors in the canary")
    launch = wait(api, launch_id)
    assert launch["status"] == "ROLLED_BACK", launch["timeline"]
    assert launch["error"]["error"] == "LaunchAborted"
    assert stack.service_task_definition() == before
    assert lock_holder() is None
    finished = next(e for e in launch["timeline"] if e["kind"] == "finished")
    assert finished["details"]["exposure"]["upper_bound"] is False  # counted on the release's own target group


class Viewers:
    """Simulated users of the site, each with their own cookies, loading the homepage through the local
    CloudFront's release router until stopped: which release each was served, in order."""

    def __init__(self, site_url: str, count: int) -> None:
        import http.cookiejar

        self._url = site_url + "/"
        self._jars = [http.cookiejar.CookieJar() for _ in range(count)]
        self._openers = [urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar)) for jar in self._jars]
        self.seen: list[list[str]] = [[] for _ in range(count)]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._browse, name="viewers", daemon=True)

    def __enter__(self) -> Viewers:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def buckets(self) -> list[int]:
        """Each user's bucket, as the router's cookie keeps it."""
        return [int(next(str(c.value) for c in jar if c.name == "release-bucket")) for jar in self._jars]

    def _browse(self) -> None:
        while not self._stop.is_set():
            for viewer, opener in enumerate(self._openers):
                try:
                    with opener.open(self._url, timeout=5) as answer:
                        page = answer.read().decode()
                except urllib.error.HTTPError as refused:
                    page = f"<h1>Acme {refused.code}</h1>"
                self.seen[viewer].append(page[page.find("<h1>Acme ") + 9 : page.find("</h1>")])
            self._stop.wait(1.0)


def frontend_in_steps(stack: Any) -> str:
    """Layout releases with a frontend canary, and the backend in steps that its share follows; the release the
    site serves now live from its own prefix, as a team's earlier launch with releases leaves it (the stack's
    restore serves the bucket's own layout again). That release's version."""
    frontend = stack.profile.frontend.model_copy(update={"layout": "releases", "canary": True})
    stack.shift_traffic_in_steps(shift="linear", linear_step_percent=50.0, frontend=frontend)
    page = (stack.site.page_of(None) or b"").decode()
    live = page[page.find("<h1>Acme ") + 9 : page.find("</h1>")]
    s3, bucket = stack.environment_client("s3"), frontend.site_bucket
    for key, body in stack.site_objects().items():
        if not key.startswith(RELEASES):
            s3.put_object(Bucket=bucket, Key=release_prefix(live) + key, Body=body)
    assert frontend.key_value_store_arn is not None
    key_value_store.put(frontend.key_value_store_arn, LIVE_RELEASE_KEY, live)
    return live


def test_a_frontend_canary_keeps_each_user_on_their_side_as_the_share_grows_and_goes_live_with_the_last_step(
    stack: Any, api: ControllerApi
) -> None:
    frontend_in_steps(stack)
    version = next_version()
    store = stack.profile.frontend.key_value_store_arn
    with Viewers(stack.site.url, 20) as viewers:
        launch_id = start(stack, api, version)
        approve_all(stack, api, launch_id)
        opened = wait(api, launch_id, lambda item: has_event(item, "frontend_deployed") or is_final(item))
        tester = urllib.request.Request(stack.site.url + "/", headers={"X-Release-Canary": "opt-in"})
        with urllib.request.urlopen(tester, timeout=5) as answer:
            assert f"<h1>Acme {version}</h1>" in answer.read().decode(), opened["timeline"]
        launch = wait(api, launch_id)
        time.sleep(1.0)  # each user's next look, after the release went live
    assert launch["status"] == "SUCCEEDED", launch["timeline"]
    assert steps_of(launch) == [(50.0, "pass"), (100.0, "pass")]
    half = next(e["details"] for e in launch["timeline"] if e["kind"] == "traffic_step" and e["details"].get("outcome"))
    assert half["frontend_new"]["requests"] > 0, half  # page views of each release, from the local RUM
    assert half["frontend_old"]["requests"] > 0, half
    assert key_value_store.value_of(store, LIVE_RELEASE_KEY) == version
    assert key_value_store.value_of(store, CANARY_RELEASE_KEY) is None
    exposure = next(e for e in launch["timeline"] if e["kind"] == "finished")["details"]["exposure"]
    assert exposure["page_views"] > 0, exposure  # the frontend release's own, counted by the local RUM
    # Sticky: once a user had the release, they kept it. During the 50 % step, the users whose cookie's bucket
    # is in the lower half (0-499 of 1000) had it, and only they; once it went live, every one of them had it.
    for seen in viewers.seen:
        assert set(seen[seen.index(version) :]) == {version}, seen
    inside = {user for user, bucket in enumerate(viewers.buckets()) if bucket < 500}
    rounds = min(len(seen) for seen in viewers.seen)
    sides = [{user for user, seen in enumerate(viewers.seen) if seen[r] == version} for r in range(rounds)]
    assert inside in sides, (inside, sides)
    assert sides[-1] == set(range(len(viewers.seen))), sides


def test_a_frontend_canary_whose_pages_throw_fails_its_step_and_both_go_back_in_the_same_answer(
    stack: Any, api: ControllerApi
) -> None:
    """The backend is as good as its old revision; the release's pages throw in one view in five. The users
    on the canary's side report it (the local RUM, by release), the step fails against the live release's
    figures, ECS moves the traffic back and every user is on the live release again."""
    live = frontend_in_steps(stack)
    version = next_version()
    stack.site.throwing_releases.add(version)
    with Viewers(stack.site.url, 20) as viewers:
        launch = drive(stack, api, version)
        time.sleep(1.0)
    assert launch["status"] == "ROLLED_BACK", launch["timeline"]
    assert steps_of(launch) == [(50.0, "fail")], launch["timeline"]
    step = next(e["details"] for e in launch["timeline"] if e["kind"] == "traffic_step" and e["details"].get("outcome"))
    assert step["frontend_p_value"] < 0.05, step
    assert step["error_p_value"] > 0.05, step  # not the backend
    assert any(reason.startswith("frontend: errors") for reason in step["reasons"]), step
    store = stack.profile.frontend.key_value_store_arn
    assert key_value_store.value_of(store, CANARY_RELEASE_KEY) is None
    assert key_value_store.value_of(store, LIVE_RELEASE_KEY) == live
    assert all(seen[-1] == live for seen in viewers.seen), viewers.seen
