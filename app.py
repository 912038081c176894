"""The launch controller's Chalice app: the API and its pages, one Lambda per checklist stage, and the
handlers of AWS's events, each a Blueprint of its own layer (chalicelib/api, stages, events)."""

from __future__ import annotations

from chalice.app import Chalice

from chalicelib.api.routes import routes
from chalicelib.events.handlers import handlers
from chalicelib.stages.lambdas import lambdas

app = Chalice(app_name="launch-controller")
app.register_blueprint(routes)
app.register_blueprint(lambdas)
app.register_blueprint(handlers)
