"""Every 400 the API answers for a field reads in people's words: what the value must be, never a regex, a
library's phrasing or a Python repr."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from pydantic import BaseModel

from chalicelib.domain.models import (
    AbortRequest,
    DecisionRequest,
    ListQuery,
    PreflightQuery,
    RollbackRequest,
    UnlockRequest,
)
from chalicelib.domain.profiles import EnvironmentProfile
from chalicelib.domain.wording import PATTERN_WORDS, field_path, reason
from tests.conftest import LAUNCH_BODY

LAUNCH = "local-20990101-000000-000000"
RILEY = "riley.release@acme.example"

# Wording that means a library or a regex reached a person.
MACHINERY = re.compile(
    r"Input should|should have|should match|String should|Value error|Extra inputs|Field required|"
    r"valid dictionary|instance of|pydantic|\^|\$|\\d|\\w|\[0-9|\{\d+,|\(\?:|\{'|\['|<class|Traceback"
)

# Values each field is tried with: wrong types, empty, far too long, the wrong shape, a list, an object.
BAD_VALUES: list[Any] = [12345, "", "x" * 5000, "Not Valid !", ["a"], {"a": 1}, -1, True, None, "-" * 3]

JSON_ROUTES: list[tuple[str, type[BaseModel] | None, dict[str, Any]]] = [
    ("/launches", None, LAUNCH_BODY),
    (f"/launches/{LAUNCH}/approvals", DecisionRequest, {"role": "qa_lead", "decision": "approve"}),
    (f"/launches/{LAUNCH}/abort", AbortRequest, {"reason": "a good reason"}),
    (f"/launches/{LAUNCH}/rollback", RollbackRequest, {"reason": "a good reason"}),
    ("/environments/local/unlock", UnlockRequest, {"reason": "restored the database by hand"}),
]


def _fields(body: dict[str, Any], model: type[BaseModel] | None) -> list[str]:
    return list(body) + [name for name in (model.model_fields if model else {}) if name not in body]


def _assert_worded(answer: Any) -> None:
    assert answer.status_code == 400, answer.body
    error = answer.json_body["error"]
    for problem in error["fields"]:
        assert not MACHINERY.search(problem["reason"]), problem
        assert problem["reason"], problem
    assert not MACHINERY.search(error["message"].replace(LAUNCH, "")), error["message"]


@pytest.mark.parametrize(("path", "model", "body"), JSON_ROUTES, ids=[route[0] for route in JSON_ROUTES])
def test_every_bad_value_of_every_field_of_every_json_route_reads_in_words(
    client: Any, path: str, model: type[BaseModel] | None, body: dict[str, Any]
) -> None:
    caller = client.as_person(RILEY)
    for field in _fields(body, model):
        refused = 0
        for value in BAD_VALUES:
            answer = caller.http.post(
                path, headers={"Content-Type": "application/json"}, body=json.dumps({**body, field: value})
            )
            if answer.status_code == 400:
                _assert_worded(answer)
                refused += 1
        assert refused >= 3, field  # every field refuses at least the wrong types
    misspelt = {**body, "reasn": "x"}
    answer = caller.http.post(path, headers={"Content-Type": "application/json"}, body=json.dumps(misspelt))
    _assert_worded(answer)
    assert "is not a field here" in answer.json_body["error"]["fields"][-1]["reason"]


@pytest.mark.parametrize(
    ("query", "field", "says"),
    [
        ("limit=lots", "limit", "must be a whole number"),
        ("limit=500", "limit", "must be at most 100"),
        ("environment=Nope!", "environment", "lower-case letters, digits and dashes"),
        ("sort=newest", "sort", "is not a field here"),
    ],
)
def test_a_bad_query_is_named_in_words(client: Any, query: str, field: str, says: str) -> None:
    answer = client.as_person(RILEY).http.get(f"/launches?{query}")
    _assert_worded(answer)
    problem = answer.json_body["error"]["fields"][0]
    assert (problem["field"], says in problem["reason"]) == (field, True), problem


def test_a_launch_request_names_what_each_field_must_be(client: Any) -> None:
    body = {**LAUNCH_BODY, "git_sha": "xyz", "environment": "Prod", "gitsha": "abc1234"}
    answer = client.http.post("/launches", headers={"Content-Type": "application/json"}, body=json.dumps(body))
    _assert_worded(answer)
    reasons = {problem["field"]: problem["reason"] for problem in answer.json_body["error"]["fields"]}
    assert reasons["git_sha"] == "must be a commit SHA: 7 to 40 lower-case hexadecimal characters"
    assert reasons["gitsha"] == "is not a field here; did you mean git_sha?"
    assert reasons["environment"].startswith("must be an environment's name")


def _patterns(schema: Any) -> set[str]:
    if isinstance(schema, dict):
        found = {schema["pattern"]} if isinstance(schema.get("pattern"), str) else set()
        return found.union(*(_patterns(value) for value in schema.values()))
    if isinstance(schema, list):
        return set().union(*(_patterns(value) for value in schema))
    return set()


@pytest.mark.parametrize(
    "model",
    [EnvironmentProfile, DecisionRequest, AbortRequest, RollbackRequest, UnlockRequest, ListQuery, PreflightQuery],
)
def test_every_pattern_a_model_checks_is_worded(model: type[BaseModel]) -> None:
    from chalicelib.domain.models import LaunchRequest

    for checked in (model, LaunchRequest):
        assert _patterns(checked.model_json_schema()) - set(PATTERN_WORDS) == set()


@pytest.mark.parametrize(
    ("error", "says"),
    [
        ({"type": "missing", "loc": ("a",)}, "is required"),
        ({"type": "string_too_short", "loc": ("a",), "ctx": {"min_length": 5}}, "must have at least 5 characters"),
        ({"type": "too_long", "loc": ("a",), "ctx": {"max_length": 1}}, "must have at most 1 item"),
        ({"type": "literal_error", "loc": ("a",), "ctx": {"expected": "'x' or 'y'"}}, "must be one of 'x' or 'y'"),
        ({"type": "value_error", "loc": ("a",), "ctx": {"error": ValueError("must be nice")}}, "must be nice"),
        ({"type": "no_such_kind_of_error", "loc": ("a",)}, "is not valid"),
    ],
)
def test_each_kind_of_validation_error_has_its_words(error: dict[str, Any], says: str) -> None:
    assert reason(error) == says


def test_a_field_reads_as_a_person_writes_it() -> None:
    assert field_path(("backend", "health_checks", 0, "path")) == "backend.health_checks[0].path"
    assert field_path(()) == "body"


def test_a_profile_names_its_misspelt_field_in_its_own_table() -> None:
    from chalicelib.domain.profiles import ProfileError, parse_profile

    with pytest.raises(ProfileError) as raised:
        parse_profile('name = "local"\n[backend]\nstratgy = "x"\n', "local.toml", toml=True)
    assert "backend.stratgy: is not a field here; did you mean strategy?" in str(raised.value)
    assert not MACHINERY.search(str(raised.value))
