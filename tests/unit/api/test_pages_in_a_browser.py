"""The pages in a real browser, on a laptop's screen and a phone's: nothing runs off the edge, and axe-core
finds nothing serious or critical. With LAUNCH_PAGE_SCREENSHOTS=<dir> each page is also photographed there
(`make screenshots` puts them in docs/pages/)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from localaws.servers import LoopbackServer

from chalicelib.api.pages.html import VIEW, headers
from chalicelib.api.pages.launch import Links, render_launch
from tests.conftest import Site
from tests.unit.api.page_states import START, states

AXE = Path(__file__).parents[2] / "accessibility" / "node_modules" / "axe-core" / "axe.min.js"
SCREENS = {"laptop": (1280, 900, False), "phone": (390, 844, True)}
KEY = b"a key of the tests, thirty-two bytes"


class Pages:
    """A loopback server answering each path with its page and the page's own headers."""

    def __init__(self) -> None:
        self.served: dict[str, tuple[str, dict[str, str]]] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                return

            def do_GET(self) -> None:
                html, answer_headers = outer.served[self.path.split("?")[0]]
                payload = html.encode()
                self.send_response(200)
                for name, value in answer_headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = LoopbackServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def serve(self, name: str, html: str, answer_headers: dict[str, str]) -> str:
        self.served[f"/{name}"] = (html, answer_headers)
        return f"{self.url}/{name}"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    from localaws.browser import Chromium

    assert AXE.exists(), "axe-core is not installed: make test installs it (npm ci in tests/accessibility)"
    browser = Chromium()
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def pages() -> Iterator[Pages]:
    served = Pages()
    yield served
    served.server.shutdown()
    served.server.server_close()


def _look(chromium: Any, url: str, screen: str, name: str) -> dict[str, Any]:
    """Open the page on the screen; what overflows its width, and axe-core's serious and critical findings."""
    width, height, mobile = SCREENS[screen]
    chromium.viewport(width, height, mobile)
    chromium.open(url)
    overflow = chromium.run(
        "[document.documentElement.scrollWidth - document.documentElement.clientWidth, "
        "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > "
        "document.documentElement.clientWidth + 1).slice(0, 5).map(e => e.tagName + ' ' + e.textContent.slice(0, 40))]"
    )
    chromium.run(AXE.read_text())
    findings = chromium.run(
        "axe.run(document, {resultTypes: ['violations']}).then(r => r.violations"
        ".filter(v => ['serious', 'critical'].includes(v.impact))"
        ".map(v => v.id + ': ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', ')))"
    )
    shots = os.environ.get("LAUNCH_PAGE_SCREENSHOTS")
    if shots and name:
        Path(shots).mkdir(parents=True, exist_ok=True)
        chromium.send(
            "Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=mobile
        )
        chromium.screenshot(Path(shots) / f"{name}-{screen}.png")
    return {"overflow": overflow, "axe": findings}


def _fits_and_passes(seen: dict[str, Any]) -> None:
    assert seen["overflow"][0] <= 0, json.dumps(seen["overflow"])
    assert seen["axe"] == [], seen["axe"]


# What each state's page must say, as a reader sees it in the browser.
SAYS = {
    "running": ["BAKING", "Refresh paused", "Bake", "watching", "The figures as a table"],
    "succeeded": ["SUCCEEDED", "healthy", "The 41 checks that passed"],
    "rolled-back-by-smoke": ["ROLLED_BACK", "SmokeTestFailed", "What to do now", "acme-db-restored-1a2b3c4d"],
    "rolled-back-by-alarm": ["ROLLED_BACK", "BakeBreached", "breach", "Rollback", "undone"],
    "requested-rollback": ["Rollback of 1.2.0 in local", "Not required", "not needed", "asked to roll back"],
    "rolled-back-later": ["SUCCEEDED", "rolled back later", "This launch was rolled back later, by"],
    "blocked": ["BLOCKED", "Backend image exists in ECR", "digest: none"],
    "rejected": ["REJECTED", "checkout regression on Safari", "qa_lead"],
    "canary-rolled-back": ["Traffic steps", "30 %", "fail", "served 212 requests (43 failed)"],
}


@pytest.mark.parametrize("screen", list(SCREENS))
@pytest.mark.parametrize("state", list(states()))
def test_each_launch_page_fits_the_screen_and_axe_finds_nothing_serious(
    chromium: Any, pages: Pages, state: str, screen: str
) -> None:
    launch, approvals, timeline = states()[state]
    links = Links(KEY, 2_000_000_000, "tok", paused=True)
    page = render_launch(launch, approvals, timeline, START + timedelta(minutes=20), links)
    _fits_and_passes(_look(chromium, pages.serve(f"launch-{state}", page.html, page.headers), screen, state))
    shown = chromium.text()
    assert [said for said in SAYS[state] if said not in shown] == []


@pytest.mark.parametrize("screen", list(SCREENS))
def test_the_approval_page_and_the_list_fit_the_screen_and_axe_finds_nothing_serious(
    chromium: Any, pages: Pages, site: Site, screen: str
) -> None:
    from tests.unit.api.test_launch_page import _token

    approval = site.open("tess.lead@acme.example")
    assert approval.status_code == 200
    answer_headers = {k: v for k, v in approval.headers.items() if k.lower() != "set-cookie"}
    url = pages.serve("approval", approval.body.decode(), answer_headers)
    _fits_and_passes(_look(chromium, url, screen, "approval"))
    shown = chromium.text()
    assert [
        said
        for said in ("Sign off 1.1.0 into local", "What changes", "closes in", "tess.lead@acme.example")
        if said not in shown
    ] == []
    token = _token(site, "environment:local")
    listing = site.http.get(f"/view/environments/local?token={token}&paused=1")
    assert listing.status_code == 200
    _fits_and_passes(_look(chromium, pages.serve("list", listing.body.decode(), headers(VIEW)), screen, "list"))


def test_a_refreshing_page_offers_its_pause_and_the_refresh_is_axes_only_finding(
    chromium: Any, pages: Pages, site: Site
) -> None:
    """axe-core flags any meta refresh under 20 hours: it cannot see the link that stops it, which is what
    WCAG 2.2.1 asks for. The paused page passes whole (above); the live one has that one finding only."""
    from tests.unit.api.test_launch_page import _token

    live = site.http.get(f"/view/environments/local?token={_token(site, 'environment:local')}").body.decode()
    assert "Pause the refresh" in live
    seen = _look(chromium, pages.serve("list-live", live, headers(VIEW)), "laptop", "")
    assert seen["axe"] == ['meta-refresh: meta[http-equiv="refresh"]']
