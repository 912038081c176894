"""Headless Chromium driven over the DevTools protocol: the local stack's Synthetics runs its journeys in it,
and the tests open pages as an approver sees them."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect


class BrowserMissing(RuntimeError):
    """No chromium on PATH (`make test` installs Debian's)."""


class Chromium:
    """One headless browser with one tab; `open`, `run` JavaScript, `screenshot`."""

    def __init__(self, timeout: float = 20) -> None:
        binary = shutil.which("chromium") or shutil.which("chromium-browser")
        if binary is None:
            raise BrowserMissing("chromium is not installed; `make test` installs Debian's chromium package")
        # Chromium's helper processes may still write there while it exits.
        self._profile = tempfile.TemporaryDirectory(prefix="chromium-", ignore_cleanup_errors=True)
        self._timeout = timeout
        self._process = subprocess.Popen(  # noqa: S603 - the chromium on PATH, with our own arguments
            [
                binary,
                "--headless=new",
                "--no-sandbox",  # root in a container has no user namespace to sandbox with
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                f"--user-data-dir={self._profile.name}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, so closing ends every helper process
        )
        port = self._debugging_port()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as response:
            page = next(target for target in json.loads(response.read()) if target["type"] == "page")
        self._closing = contextlib.ExitStack()
        self._socket: ClientConnection = self._closing.enter_context(
            connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=timeout)
        )
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        self.send("Page.enable")

    def _debugging_port(self) -> int:
        marker = Path(self._profile.name) / "DevToolsActivePort"
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            if marker.exists() and marker.read_text().strip():
                return int(marker.read_text().splitlines()[0])
            if self._process.poll() is not None:
                raise RuntimeError(f"chromium exited with {self._process.returncode}")
            time.sleep(0.05)
        raise TimeoutError("chromium did not open its debugging port")

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message_id = self._next_id
        self._socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._socket.recv(timeout=self._timeout))
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self._events.append(message)

    def _wait_for(self, event: str) -> None:
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            for index, seen in enumerate(self._events):
                if seen.get("method") == event:
                    del self._events[: index + 1]
                    return
            self._events.append(json.loads(self._socket.recv(timeout=max(0.1, deadline - time.monotonic()))))
        raise TimeoutError(f"no {event} within {self._timeout}s")

    def open(self, url: str) -> None:
        self._events.clear()
        self.send("Page.navigate", url=url)
        self._wait_for("Page.loadEventFired")

    def run(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def click_and_wait(self, selector: str) -> None:
        """Click an element that navigates (a form's submit button) and wait for the next page."""
        self._events.clear()
        self.run(f"document.querySelector({json.dumps(selector)}).click()")
        self._wait_for("Page.loadEventFired")

    def wait_until(self, expression: str, timeout: float = 5.0) -> bool:
        """Poll the page until `expression` is truthy; False when it never was within `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.run(f"Boolean({expression})"):
                return True
            time.sleep(0.05)
        return False

    def viewport(self, width: int, height: int, mobile: bool) -> None:
        """Emulate a device's screen (a phone's: narrow, touch, its own scale)."""
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=2 if mobile else 1,
            mobile=mobile,
        )

    def text(self) -> str:
        return str(self.run("document.body.innerText"))

    def screenshot(self, path: Path) -> None:
        import base64

        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"]))

    def close(self) -> None:
        try:
            self._closing.close()
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait(timeout=10)
            self._profile.cleanup()
