"""The environment's load balancer's part locally: a trickle of users' requests to the sample site, and the
ALB metrics CloudWatch would have of them (RequestCount, HTTPCode_Target_5XX_Count, TargetResponseTime).

Users load the pages (`/`, `/dashboard`), not the health check, which load balancers do not count: what the
bake reads is the site's real answers and their real times, put where the bake reads them."""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

PAGES = ("/", "/dashboard")
LOG_EVERY = 15
logger = logging.getLogger(__name__)


class LocalLoadBalancer:
    def __init__(
        self,
        site_url: str,
        cloudwatch: Callable[[], Any],
        dimension: str,
        interval: float = 2.0,
        users: int = 1,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self._site_url = site_url
        self._cloudwatch = cloudwatch
        self._dimension = [{"Name": "LoadBalancer", "Value": dimension}]
        self._interval = interval
        self._users = users
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
        while not self._stopped.wait(self._interval):
            try:
                self._tick()
            except Exception:  # the stack outlives one failed tick, as a load balancer does
                logger.debug("the load balancer's tick failed", exc_info=True)

    def _tick(self) -> None:
        times: list[float] = []
        server_errors = 0
        for _ in range(self._users):
            for page in PAGES:
                began = time.monotonic()
                try:
                    with urllib.request.urlopen(self._site_url + page, timeout=5) as answer:
                        answer.read()
                except urllib.error.HTTPError as refused:
                    server_errors += refused.code >= 500
                except OSError:
                    server_errors += 1  # the target did not answer: the load balancer's 5xx
                times.append(time.monotonic() - began)
        self._ticks += 1
        if self._log is not None and self._ticks % LOG_EVERY == 1:
            self._log(f"served {len(times)} requests, {server_errors} failed")
        moment = datetime.now(UTC)
        metric = {"Dimensions": self._dimension, "Timestamp": moment}
        self._cloudwatch().put_metric_data(
            Namespace="AWS/ApplicationELB",
            MetricData=[
                {**metric, "MetricName": "RequestCount", "Value": len(times), "Unit": "Count"},
                {**metric, "MetricName": "HTTPCode_Target_5XX_Count", "Value": server_errors, "Unit": "Count"},
                {**metric, "MetricName": "TargetResponseTime", "Values": times, "Unit": "Seconds"},
            ],
        )
