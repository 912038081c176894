"""A small stand-in for the production application, served from the emulated AWS, that can be told to fail."""

from __future__ import annotations

import json
import logging
import secrets
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

from chalicelib.domain.profiles import MetricReference, ReleaseFigures
from chalicelib.stages.release_switch import release_prefix
from localaws import key_value_store
from localaws.cloudfront_router import BUCKET_COOKIE, bucket_of, release_for
from localaws.images import Images
from localaws.infrastructure import SITE_DOMAIN, SMOKE_TOKEN
from localaws.servers import LoopbackServer

logger = logging.getLogger(__name__)
SITE_ORIGIN = f"https://{SITE_DOMAIN}"
SECURITY_HEADERS = {
    "Strict-Transport-Security": "max-age=31536000",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}


LOGIN_PAGE = b"""<!doctype html><html><head><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in - Acme</title></head><body><h1>Sign in</h1>
<form method="post" action="/login"><input id="email" name="email" type="email" required>
<input id="password" name="password" type="password" required><button id="sign-in" type="submit">Sign in</button>
</form></body></html>"""

# The dashboard as users load it: its data from the API with the session's cookie, a live update over the
# WebSocket, a layout that fits a phone. The load balancer's users and the smoke test read only its HTML.
DASHBOARD_PAGE = """<!doctype html><html><head><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Dashboard - Acme</title><style>body{{margin:0;font-family:sans-serif}} main{{padding:1rem;max-width:40rem}}
nav a{{margin-right:1rem}}</style></head><body><nav><a id="home" href="/">Home</a><a href="/dashboard">Dashboard</a>
</nav><main><h1>Dashboard</h1><ul id="orders"></ul><p id="live"></p></main><script>
fetch("/api/dashboard", {{credentials: "same-origin"}}).then(r => r.ok ? r.json() : Promise.reject(r.status))
  .then(data => data.orders.forEach(o => {{ const li = document.createElement("li"); li.textContent = o;
    document.getElementById("orders").appendChild(li); }}))
  .catch(status => {{ document.getElementById("orders").dataset.error = String(status); }});
const socket = new WebSocket({websocket});
socket.onopen = () => socket.send("live");
socket.onmessage = event => {{ document.getElementById("live").textContent = event.data; }};
</script></body></html>"""
SESSION_COOKIE = "acme_session"


# What a release of the sample application can be broken in (`launchctl local publish VERSION --defect D`):
# what each breaks, and so which stage of a launch finds it.
RELEASE_FAULTS = {
    "unhealthy": "/health answers 503 while it runs: the smoke test fails and the launch rolls back",
    "silent": "it publishes no business metrics: the bake's business-metric watch breaches",
    "broken-journey": "the dashboard's data API answers 500: the functional tests (canaries) fail, not the smoke test",
    "flaky": "one request in five to its pages answers 500: a canary's first step, judged against the old revision, "
    "fails it; launched all at once, the bake's error rate does",
}
# The image the local load balancer's target group runs, on each request it forwards (a canary's two
# revisions serve side by side); without it a request is the service's, as the smoke test's are.
TARGET_IMAGE_HEADER = "X-Local-Target-Image"
FLAKY_EVERY = 5


class SampleSite:
    """Homepage from the site bucket; health from the image the ECS service runs; echo WebSocket.

    `unhealthy_images` makes /health answer 503 while the service runs one of those images, so a
    release can be made bad the way a real one would be, and rollback makes it good again."""

    def __init__(
        self,
        host: str,
        port: int,
        ws_port: int,
        clients: Any,
        site_bucket: str,
        cluster: str,
        service: str,
        business_metrics: list[MetricReference] | None = None,
        release_store: str | None = None,
        release_figures: ReleaseFigures | None = None,
    ) -> None:
        self.host, self.port, self.ws_port = host, port, ws_port
        self.release_store = release_store  # the KeyValueStore the release router reads
        # The local RUM: page views and JavaScript errors by release, published each second as the team's RUM
        # custom metrics would be; a release in `throwing_releases` throws in one page view in FLAKY_EVERY.
        self.release_figures = release_figures
        self.throwing_releases: set[str] = set()
        self._release_views: dict[str, list[int]] = {}
        self._clients = clients
        self._bucket, self._cluster, self._service = site_bucket, cluster, service
        self.unhealthy_images: set[str] = Images()
        # The application publishes its business metrics each second (the users on the dashboard in that
        # second) unless it runs one of `silent_images`: a release that broke a feature or its telemetry.
        self._business_metrics = business_metrics or []
        self.silent_images: set[str] = Images()
        # The dashboard's data API answers 500 while the service runs one of these: a release that broke a
        # user's journey though every page still loads (the functional tests find it, the smoke test cannot).
        self.broken_journey_images: set[str] = Images()
        # One request in FLAKY_EVERY to the pages answers 500 while one of these serves it.
        self.flaky_images: set[str] = Images()
        self._served: dict[str, int] = {}
        self._lock = threading.Lock()
        self._sessions: set[str] = set()
        self._dashboard_views = 0
        self._stopped = threading.Event()
        # The API answers any origin's CORS preflight with credentials allowed (a misconfiguration to find).
        self.cors_open = False
        self._http: LoopbackServer | None = None
        self._ws: Any = None
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def websocket_url(self) -> str:
        return f"ws://{self.host}:{self.ws_port}/ws"

    def current_image(self) -> str:
        ecs = self._clients("ecs")
        service = ecs.describe_services(cluster=self._cluster, services=[self._service])["services"][0]
        definition = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
        return str(definition["containerDefinitions"][0]["image"])

    def homepage(
        self, request_id: str = "", cookies: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> bytes | None:
        """The entry page as CloudFront serves it to a viewer (see `release_served`)."""
        return self.page_of(self.release_served(request_id, cookies, headers))

    def release_served(
        self, request_id: str = "", cookies: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> str | None:
        """The release the release router (deploy/release-router.js, as localaws.cloudfront_router plays it)
        serves a viewer: the live one, or a canary's for a tester or a viewer in its share; None: the bucket's
        own layout."""
        if not self.release_store:
            return None
        store = self.release_store
        return release_for(
            lambda key: key_value_store.value_of(store, key),
            request_id or secrets.token_urlsafe(42),
            cookies or {},
            headers or {},
        )

    def page_of(self, release: str | None) -> bytes | None:
        """The entry page from a release's prefix (None: the bucket's root)."""
        s3 = self._clients("s3")
        try:
            key = f"{release_prefix(release)}index.html" if release else "index.html"
            body: bytes = s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
            return body
        except s3.exceptions.NoSuchKey:
            return None

    def viewed(self, release: str | None) -> None:
        """What the RUM web client reports of a page view, counted by release: the view, and the JavaScript
        error every FLAKY_EVERY-th view of a release whose script throws."""
        if release is None or self.release_figures is None:
            return
        with self._lock:
            counts = self._release_views.setdefault(release, [0, 0])
            counts[0] += 1
            if release in self.throwing_releases and counts[0] % FLAKY_EVERY == 0:
                counts[1] += 1

    def start(self) -> None:
        from websockets.sync.server import serve

        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                return

            def _send(
                self,
                status: int,
                body: bytes,
                content_type: str = "application/json",
                more: dict[str, str] | None = None,
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                for name, value in (more or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                # What the distribution's response headers policy adds on AWS (the managed security headers).
                for name, value in SECURITY_HEADERS.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def do_OPTIONS(self) -> None:
                """A CORS preflight: the site's own origin may call the API with its cookies; others may not."""
                origin = self.headers.get("Origin", "")
                self.send_response(204)
                if origin == SITE_ORIGIN or (site.cors_open and origin):
                    self.send_header("Access-Control-Allow-Origin", origin)
                    self.send_header("Access-Control-Allow-Credentials", "true")
                    self.send_header("Access-Control-Allow-Methods", "GET")
                    self.send_header("Vary", "Origin")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path in {"/", "/dashboard"} and site.flaky_images and site._fails(self.headers):
                    self._send(500, b"<html><body>internal error</body></html>", "text/html")
                elif path == "/health":
                    image = site.current_image()
                    healthy = image not in site.unhealthy_images
                    body = json.dumps({"status": "ok" if healthy else "failing", "image": image}).encode()
                    self._send(200 if healthy else 503, body)
                elif path == "/":
                    # CloudFront's request id: the router's bucket for a viewer without its cookie yet.
                    request_id = secrets.token_urlsafe(42)
                    cookies = _cookies(self.headers.get("Cookie", ""))
                    headers = {name.lower(): value for name, value in self.headers.items()}
                    release = site.release_served(request_id, cookies, headers)
                    page = site.page_of(release)
                    site.viewed(release)
                    kept = {} if BUCKET_COOKIE in cookies else {"Set-Cookie": _bucket_cookie(request_id)}
                    if page is None:
                        self._send(404, b"<html><body>no site deployed</body></html>", "text/html")
                    else:
                        self._send(200, page, "text/html; charset=utf-8", kept)
                elif path == "/dashboard":
                    site._dashboard_views += 1
                    page = DASHBOARD_PAGE.format(websocket=json.dumps(site.websocket_url)).encode()
                    self._send(200, page, "text/html; charset=utf-8")
                elif path == "/login":
                    self._send(200, LOGIN_PAGE, "text/html; charset=utf-8")
                elif path == "/api/dashboard":
                    if not site._signed_in(self.headers.get("Cookie", "")):
                        self._send(401, b'{"error": "sign in first"}')
                    elif site.broken_journey_images and site.current_image() in site.broken_journey_images:
                        self._send(500, b'{"error": "the orders query failed"}')
                    else:
                        self._send(200, b'{"orders": ["#1001 shipped", "#1002 packed"]}')
                elif path == "/api/me":
                    if self.headers.get("Authorization") == f"Bearer {SMOKE_TOKEN}":
                        self._send(200, b'{"user": "smoke-test"}')
                    else:
                        self._send(401, b'{"error": "authentication required"}')
                elif path == "/_sample/faults":
                    self._send(200, json.dumps({"unhealthy_images": sorted(site.unhealthy_images)}).encode())
                else:
                    self._send(404, b'{"error": "not found"}')

            def do_POST(self) -> None:
                """`POST /login`: a session for anyone with an email and a password (a stand-in's sign-in);
                `POST /_sample/faults {"unhealthy_image": IMAGE}`: /health fails while IMAGE runs."""
                if self.path == "/login":
                    session = secrets.token_hex(16)
                    site._sessions.add(session)
                    self.send_response(303)
                    self.send_header("Location", "/dashboard")
                    self.send_header("Set-Cookie", f"{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Lax")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path != "/_sample/faults":
                    self._send(404, b'{"error": "not found"}')
                    return
                try:
                    body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0") or 0)))
                    image = str(body["unhealthy_image"])
                except (ValueError, KeyError, TypeError):
                    self._send(400, b'{"error": "send {\\"unhealthy_image\\": \\"repo/name:tag\\"}"}')
                    return
                site.unhealthy_images.add(image)
                self._send(200, json.dumps({"unhealthy_images": sorted(site.unhealthy_images)}).encode())

            def do_DELETE(self) -> None:
                if self.path != "/_sample/faults":
                    self._send(404, b'{"error": "not found"}')
                    return
                site.unhealthy_images.clear()
                self._send(200, b'{"unhealthy_images": []}')

        def echo(connection: Any) -> None:
            for message in connection:
                connection.send(message)

        self._http = LoopbackServer((self.host, self.port), Handler)
        self.port = self._http.server_address[1]
        self._ws = serve(echo, self.host, self.ws_port)
        self.ws_port = self._ws.socket.getsockname()[1]
        for target, name in (
            (self._http.serve_forever, "sample-site"),
            (self._ws.serve_forever, "sample-ws"),
            (self._publish_business_metrics, "sample-metrics"),
            (self._publish_release_figures, "sample-rum"),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def _fails(self, headers: Any) -> bool:
        """Whether this page request fails: every FLAKY_EVERY-th one its image serves, when that image is flaky."""
        image = headers.get(TARGET_IMAGE_HEADER) or self.current_image()
        if image not in self.flaky_images:
            return False
        with self._lock:
            self._served[image] = self._served.get(image, 0) + 1
            return self._served[image] % FLAKY_EVERY == 0

    def _signed_in(self, cookies: str) -> bool:
        sent = (part.strip().split("=", 1) for part in cookies.split(";") if "=" in part)
        return any(name == SESSION_COOKIE and value in self._sessions for name, value in sent)

    def _publish_business_metrics(self) -> None:
        while self._business_metrics and not self._stopped.wait(1.0):
            views, self._dashboard_views = self._dashboard_views, 0
            try:
                if self.silent_images and self.current_image() in self.silent_images:
                    continue
                for metric in self._business_metrics:
                    self._clients("cloudwatch").put_metric_data(
                        Namespace=metric.namespace,
                        MetricData=[
                            {
                                "MetricName": metric.name,
                                "Dimensions": [{"Name": k, "Value": v} for k, v in metric.dimensions.items()],
                                "Value": views,
                                "Unit": "Count",
                            }
                        ],
                    )
            except Exception:  # the application outlives one failed publish, as a real one does
                logger.debug("the sample site's metrics were not published", exc_info=True)

    def _publish_release_figures(self) -> None:
        """Each second's page views and errors by release, as RUM publishes the team's custom metrics."""
        figures = self.release_figures
        while figures is not None and not self._stopped.wait(1.0):
            with self._lock:
                counted, self._release_views = self._release_views, {}
            data = [
                {
                    "MetricName": name,
                    "Dimensions": [{"Name": figures.dimension, "Value": release}],
                    "Value": value,
                    "Unit": "Count",
                }
                for release, (views, errors) in counted.items()
                for name, value in ((figures.views_metric, views), (figures.errors_metric, errors))
            ]
            try:
                for start in range(0, len(data), 1000):
                    self._clients("cloudwatch").put_metric_data(
                        Namespace=figures.namespace, MetricData=data[start : start + 1000]
                    )
            except Exception:  # the application outlives one failed publish, as a real one does
                logger.debug("the local RUM's figures were not published", exc_info=True)

    def stop(self) -> None:
        self._stopped.set()
        if self._http:
            self._http.shutdown()
            self._http.server_close()
        if self._ws:
            self._ws.shutdown()


def _cookies(header: str) -> dict[str, str]:
    """A request's Cookie header as names and values."""
    pairs = (part.strip().split("=", 1) for part in header.split(";") if "=" in part)
    return {name: value for name, value in pairs}


def _bucket_cookie(request_id: str) -> str:
    """What the router's viewer-response event sets for a viewer without the cookie (local: not Secure, the
    stand-in serves plain HTTP)."""
    return f"{BUCKET_COOKIE}={bucket_of(request_id)}; Path=/; Max-Age=2592000; SameSite=Lax"
