"""The environment's load balancer's part locally: a trickle of users' requests to the sample site, and the
ALB metrics CloudWatch would have of them (RequestCount, HTTPCode_Target_5XX_Count, TargetResponseTime).

Users load the pages (`/`, `/dashboard`), not the health check, which load balancers do not count: what the
bake reads is the site's real answers and their real times, put where the bake reads them.

While ECS moves a canary's or linear rollout's traffic (`shifting`), the users come in a crowd, enough for each
step to be judged in seconds: each request goes to the release's target group with the share ECS gave it, and
the site answers as the image that target group runs. Each target group's figures are published under its own
`TargetGroup` dimension beside the load balancer's, as an ALB publishes them."""

from __future__ import annotations

import logging
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib.stages.backend import target_group_dimension
from localaws.sample_site import TARGET_IMAGE_HEADER

PAGES = ("/", "/dashboard")
LOG_EVERY = 15
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Split:
    """Where the load balancer sends production traffic during a shift: the release's share and both groups."""

    weight: float  # the release's share, in percent
    new_target_group: str  # ARNs
    old_target_group: str
    new_image: str
    old_image: str


class LocalLoadBalancer:
    def __init__(
        self,
        site_url: str,
        cloudwatch: Callable[[], Any],
        dimension: str,
        interval: float = 2.0,
        users: int = 1,
        log: Callable[[str], None] | None = None,
        shifting: Callable[[], Split | None] | None = None,
        crowd: int = 8,
        crowd_interval: float = 0.25,
    ) -> None:
        self._site_url = site_url
        self._cloudwatch = cloudwatch
        self._balancer = dimension
        self._dimension = [{"Name": "LoadBalancer", "Value": dimension}]
        self._interval = interval
        self._users = users
        self._shifting = shifting
        self._crowd, self._crowd_interval = crowd, crowd_interval
        self._route = random.Random(dimension)  # noqa: S311 - a traffic split, not a secret
        self._log = log  # the application's own log line, written every LOG_EVERY ticks
        self._ticks = 0
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="load-balancer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        split: Split | None = None
        while not self._stopped.wait(self._crowd_interval if split else self._interval):
            try:
                split = self._shifting() if self._shifting else None
                if split is None:
                    self._tick()
                else:
                    self._crowd_tick(split)
            except Exception:  # the stack outlives one failed tick, as a load balancer does
                logger.debug("the load balancer's tick failed", exc_info=True)

    def _crowd_tick(self, split: Split) -> None:
        """A crowd's requests, each to the release's target group with its share, answered as its image."""
        served: dict[str, tuple[list[float], int]] = {split.new_target_group: ([], 0), split.old_target_group: ([], 0)}
        for number in range(self._crowd):
            to_new = self._route.uniform(0, 100) < split.weight
            group, image = (
                (split.new_target_group, split.new_image) if to_new else (split.old_target_group, split.old_image)
            )
            took, failed = self._request(PAGES[number % len(PAGES)], {TARGET_IMAGE_HEADER: image})
            times, errors = served[group]
            times.append(took)
            served[group] = (times, errors + failed)
        moment = datetime.now(UTC)
        data: list[dict[str, Any]] = []
        everything = [took for times, _ in served.values() for took in times]
        data += self._figures(self._dimension, moment, everything, sum(errors for _, errors in served.values()))
        for group, (times, errors) in served.items():
            if times:
                dimensions = [{"Name": "TargetGroup", "Value": target_group_dimension(group)}, *self._dimension]
                data += self._figures(dimensions, moment, times, errors)
        self._cloudwatch().put_metric_data(Namespace="AWS/ApplicationELB", MetricData=data)

    @staticmethod
    def _figures(dimensions: list[dict[str, str]], moment: datetime, times: list[float], errors: int) -> list[Any]:
        metric = {"Dimensions": dimensions, "Timestamp": moment}
        return [
            {**metric, "MetricName": "RequestCount", "Value": len(times), "Unit": "Count"},
            {**metric, "MetricName": "HTTPCode_Target_5XX_Count", "Value": errors, "Unit": "Count"},
            {**metric, "MetricName": "TargetResponseTime", "Values": times, "Unit": "Seconds"},
        ]

    def _request(self, page: str, headers: dict[str, str]) -> tuple[float, int]:
        """One user's request: how long it took, and 1 if it was a server error."""
        began = time.monotonic()
        failed = 0
        try:
            request = urllib.request.Request(self._site_url + page, headers=headers)
            with urllib.request.urlopen(request, timeout=5) as answer:
                answer.read()
        except urllib.error.HTTPError as refused:
            failed = int(refused.code >= 500)
        except OSError:
            failed = 1  # the target did not answer: the load balancer's 5xx
        return time.monotonic() - began, failed

    def _tick(self) -> None:
        times: list[float] = []
        server_errors = 0
        for _ in range(self._users):
            for page in PAGES:
                took, failed = self._request(page, {})
                server_errors += failed
                times.append(took)
        self._ticks += 1
        if self._log is not None and self._ticks % LOG_EVERY == 1:
            self._log(f"served {len(times)} requests, {server_errors} failed")
        self._cloudwatch().put_metric_data(
            Namespace="AWS/ApplicationELB",
            MetricData=self._figures(self._dimension, datetime.now(UTC), times, server_errors),
        )
