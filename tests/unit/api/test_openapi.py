"""/openapi.json describes every route, and real answers match what it says."""

from __future__ import annotations

import json
from typing import Any

from chalice.test import Client
from jsonschema import Draft202012Validator

from tests.unit.api.test_api import BODY, _post


def _document(client: Client) -> dict[str, Any]:
    response = client.http.get("/openapi.json")
    assert response.status_code == 200
    return response.json_body


def _check(document: dict[str, Any], path: str, method: str, response: Any) -> None:
    """The answer's status is described, and its JSON body validates against the described schema."""
    described = document["paths"][path][method]["responses"]
    assert str(response.status_code) in described, (path, method, response.status_code)
    content = described[str(response.status_code)].get("content", {})
    schema = content.get("application/json", {}).get("schema")
    if schema is not None:
        Draft202012Validator({**schema, "components": document["components"]}).validate(response.json_body)


def test_every_route_is_described_and_nothing_else(client: Client) -> None:
    from app import app

    routes = {(path, method.lower()) for path, methods in app.routes.items() for method in methods}
    described = {(path, method) for path, item in _document(client)["paths"].items() for method in item}
    assert routes == described


def test_every_reference_in_the_description_resolves(client: Client) -> None:
    document = _document(client)
    text = json.dumps(document)
    names = {part.split('"')[0] for part in text.split('"$ref": "#/components/schemas/')[1:]}
    assert names <= set(document["components"]["schemas"])


def test_real_answers_match_the_description(client: Client) -> None:
    document = _document(client)
    started = _post(client, "/launches", BODY)
    _check(document, "/launches", "post", started)
    launch_id = started.json_body["launch_id"]
    _check(document, "/launches", "post", _post(client, "/launches", BODY))  # 409, locked
    _check(document, "/launches", "post", _post(client, "/launches", {**BODY, "version": ""}))  # 400
    _check(document, "/launches", "get", client.http.get("/launches?limit=5"))
    _check(document, "/launches", "get", client.anonymous().http.get("/launches"))  # 401
    _check(document, "/launches", "get", client.as_github(repository="mallory/shop").http.get("/launches"))  # 403
    _check(document, "/launches", "get", client.http.get("/launches?limit=500"))
    _check(document, "/launches/{launch_id}", "get", client.http.get(f"/launches/{launch_id}"))
    _check(document, "/launches/{launch_id}", "get", client.http.get("/launches/local-20990101-000000-000000"))
    abort = _post(client, f"/launches/{launch_id}/abort", {"reason": "only a test"})
    _check(document, "/launches/{launch_id}/abort", "post", abort)


def test_an_oversized_body_is_a_413_and_broken_json_a_400(client: Client) -> None:
    big = client.http.post(
        "/launches", headers={"Content-Type": "application/json"}, body=json.dumps({**BODY, "pad": "x" * 70_000})
    )
    assert big.status_code == 413
    assert big.json_body["error"]["code"] == "payload_too_large"
    broken = client.http.post("/launches", headers={"Content-Type": "application/json"}, body="{not json")
    assert broken.status_code == 400
    assert broken.json_body["error"]["fields"][0]["field"] == "body"


def test_the_description_is_made_from_the_routes_and_refuses_one_without_its_own() -> None:
    import re

    import pytest
    from chalice.app import Chalice

    from chalicelib.api.openapi import Undescribed, document

    app = Chalice(app_name="undescribed")

    @app.route("/launches/{launch_id}/pause", methods=["POST"])
    def pause(launch_id: str) -> dict[str, Any]:
        return {}

    with pytest.raises(Undescribed, match=re.escape("POST /launches/{launch_id}/pause")):
        document(app.routes)
