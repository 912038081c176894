"""Stored profiles: every push a version with who pushed it, read through the container's cache, refused
when invalid; `launchctl profile push/show/diff` over them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.domain.profiles import EnvironmentProfile, ProfileError, UnknownEnvironment
from chalicelib.platform import profile_store
from chalicelib.platform.profile_store import (
    current_profile,
    differences,
    history,
    known_environments,
    push_profile,
    stored_version,
)
from launchctl import cli
from launchctl.examples import EXAMPLES_DIR
from tests.conftest import unit_profile as example_profile

API = ["--api", "http://controller.example/api"]


def _with_threshold(profile: EnvironmentProfile, p95: float) -> EnvironmentProfile:
    return profile.model_copy(update={"bake": profile.bake.model_copy(update={"p95_latency_threshold_ms": p95})})


def test_every_push_is_the_next_version_and_keeps_who_pushed_it_and_when(aws: Any) -> None:
    local = example_profile("local")
    pushed = push_profile(aws("ssm"), _with_threshold(local, 750))
    assert pushed.version == 2
    # The identity Parameter Store records for the caller's keys, not a name the caller wrote.
    caller = aws("sts").get_caller_identity()["Arn"]
    assert [stored.pushed_by for stored in history(aws("ssm"), "local")] == [caller, caller]
    assert stored_version(aws("ssm"), "local", 1).profile == local
    assert stored_version(aws("ssm"), "local").profile.bake.p95_latency_threshold_ms == 750


def test_a_container_reuses_what_it_read_until_it_ages_but_a_decision_reads_the_newest(aws: Any) -> None:
    assert current_profile("local").version == 1
    push_profile(aws("ssm"), _with_threshold(example_profile("local"), 750))
    assert current_profile("local").version == 1
    assert current_profile("local", fresh=True).version == 2
    assert current_profile("local").version == 2


def test_an_unknown_environment_names_the_stored_ones(aws: Any) -> None:
    with pytest.raises(UnknownEnvironment, match="known: local, production, staging"):
        current_profile("qa")
    assert known_environments() == ["local", "production", "staging"]


def test_a_stored_profile_edited_by_hand_into_an_invalid_one_is_refused_naming_the_field(aws: Any) -> None:
    data = example_profile("local").model_dump(mode="json")
    data["bake"]["checkpoints"] = [6, 3]
    aws("ssm").put_parameter(
        Name=profile_store.parameter_name("local"),
        Value=json.dumps(data),
        Type="String",
        Overwrite=True,
        Tier="Intelligent-Tiering",
    )
    with pytest.raises(ProfileError, match=r"version 2: bake: .*ascending") as invalid:
        current_profile("local", fresh=True)
    from chalicelib.api.responses import error_answer

    status, body = error_answer(invalid.value) or (500, {})
    assert (status, body["error"]["code"]) == (503, "profile_invalid")
    assert "bake" in body["error"]["message"]


def test_a_difference_names_each_field_with_its_old_and_new_value() -> None:
    local = example_profile("local")
    before = local.bake.p95_latency_threshold_ms
    assert differences(local, _with_threshold(local, 750)) == [f"bake.p95_latency_threshold_ms: {before} -> 750.0"]
    assert differences(local, local) == []


def _file(tmp_path: Any, profile: EnvironmentProfile) -> str:
    path = tmp_path / f"{profile.name}.json"
    path.write_text(profile.model_dump_json())
    return str(path)


def test_push_refuses_an_invalid_profile_naming_the_field_and_stores_nothing(
    aws: Any, tmp_path: Any, capsys: Any
) -> None:
    broken = tmp_path / "local.toml"
    broken.write_text((EXAMPLES_DIR / "local.toml").read_text().replace("checkpoints = [2, 4]", "checkpoints = [4, 2]"))
    assert cli.main(["profile", "push", *API, "--env", "local", str(broken)]) == cli.EXIT_USAGE
    assert "bake" in capsys.readouterr().out
    assert [stored.version for stored in history(aws("ssm"), "local")] == [1]


def test_push_refuses_a_file_of_another_environment(aws: Any, tmp_path: Any, capsys: Any) -> None:
    path = _file(tmp_path, example_profile("staging"))
    assert cli.main(["profile", "push", *API, "--env", "production", path]) == cli.EXIT_USAGE
    assert "not the environment named" in capsys.readouterr().out


def test_push_of_new_approvers_needs_the_topic_and_subscribes_them_from_the_stored_profile(
    aws: Any, tmp_path: Any, capsys: Any
) -> None:
    topic = aws("sns").create_topic(Name="approvals")["TopicArn"]
    local = example_profile("local")
    approvers = {**local.approvals.approvers, "qa_lead": ["quinn.qa@acme.example", "nia.new@acme.example"]}
    changed = local.model_copy(update={"approvals": local.approvals.model_copy(update={"approvers": approvers})})
    path = _file(tmp_path, changed)
    assert cli.main(["profile", "push", *API, "--env", "local", path]) == cli.EXIT_USAGE
    assert "nothing was pushed" in capsys.readouterr().err
    assert cli.main(["profile", "push", *API, "--json", "--env", "local", "--topic", topic, path]) == cli.EXIT_OK
    answer = json.loads(capsys.readouterr().out)
    assert answer["version"] == 2
    assert answer["changes"] == [
        {
            "field": "approvals.approvers.qa_lead",
            "before": ["quinn.qa@acme.example", "quentin.qa@acme.example"],
            "after": ["quinn.qa@acme.example", "nia.new@acme.example"],
        }
    ]
    assert "nia.new@acme.example" in answer["approvers"]["subscribed"]
    endpoints = {s["Endpoint"] for s in aws("sns").list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]}
    assert "nia.new@acme.example" in endpoints


def test_push_of_what_is_stored_already_makes_no_version(aws: Any, tmp_path: Any, capsys: Any) -> None:
    path = _file(tmp_path, example_profile("local"))
    assert cli.main(["profile", "push", *API, "--env", "local", path]) == cli.EXIT_OK
    assert "unchanged at version 1" in capsys.readouterr().out
    assert len(history(aws("ssm"), "local")) == 1


def test_show_and_diff_read_the_version_asked_for(aws: Any, tmp_path: Any, capsys: Any) -> None:
    path = _file(tmp_path, _with_threshold(example_profile("local"), 750))
    assert cli.main(["profile", "diff", *API, "--env", "local", path]) == cli.EXIT_OK
    before = example_profile("local").bake.p95_latency_threshold_ms
    assert capsys.readouterr().out.strip() == f"bake.p95_latency_threshold_ms: {before} -> 750.0"
    assert cli.main(["profile", "push", *API, "--env", "local", path]) == cli.EXIT_OK
    capsys.readouterr()
    assert cli.main(["profile", "show", *API, "--json", "--env", "local", "--version", "1"]) == cli.EXIT_OK
    shown = json.loads(capsys.readouterr().out)
    assert (shown["version"], shown["profile"]["bake"]["p95_latency_threshold_ms"]) == (1, before)
    assert cli.main(["profile", "show", *API, "--env", "local", "--history"]) == cli.EXIT_OK
    assert len(capsys.readouterr().out.strip().splitlines()) == 2
    assert cli.main(["profile", "show", *API, "--env", "local", "--version", "9"]) == cli.EXIT_USAGE
    assert "keeps 1-2" in capsys.readouterr().out


def test_role_parameters_are_the_target_templates_from_the_profile(capsys: Any) -> None:
    assert cli.main(["profile", "role-parameters", *API, str(EXAMPLES_DIR / "staging.toml")]) == cli.EXIT_OK
    printed = dict(item.split("=", 1) for item in capsys.readouterr().out.split())
    assert printed["EnvironmentName"] == "staging"
    assert printed["FrontendSiteBucket"] == "acme-app-site-staging"
    assert printed["BackendMigrationFamily"] == ""


def _team(profile: EnvironmentProfile, people: int, approvers: int) -> EnvironmentProfile:
    """`profile` with a team of `people` people (each an Identity Center session name and a GitHub login),
    `approvers` of whom sign off, spread over its roles."""
    from chalicelib.domain.profiles import Person

    emails = [f"person.{n:03d}@acme.example" for n in range(people)]
    directory = {email: Person(session_names=[email], github=[f"person-{n:03d}"]) for n, email in enumerate(emails)}
    roles = profile.approvals.roles
    signers = {
        role: [email for n, email in enumerate(emails[:approvers]) if n % len(roles) == i]
        for i, role in enumerate(roles)
    }
    return profile.model_copy(
        update={
            "people": profile.people.model_copy(update={"people": directory}),
            "approvals": profile.approvals.model_copy(update={"approvers": signers}),
        }
    )


def test_a_team_of_a_hundred_people_and_forty_approvers_is_stored_and_read_back(aws: Any) -> None:
    """Parameter Store holds at most 8,192 characters a parameter: the people directory is stored apart, in
    standard parts named by their content's digest, and the profile reads back whole."""
    team = _team(example_profile("production"), people=100, approvers=40)
    assert len(team.model_dump_json()) > profile_store.PROFILE_CHARACTERS  # as it was stored before: refused
    pushed = push_profile(aws("ssm"), team)
    assert pushed.profile == team
    assert current_profile("production", fresh=True).profile == team
    value, parts = profile_store.stored_form(team)
    assert len(value) <= 4096  # the profile itself fits the standard tier now
    assert len(parts) >= 3
    assert all(len(part) <= profile_store.PART_CHARACTERS for part in parts.values())
    tiers = aws("ssm").get_parameters(Names=list(parts))["Parameters"]
    assert {parameter["Name"] for parameter in tiers} == set(parts)


def test_an_earlier_version_still_reads_the_people_it_was_pushed_with(aws: Any) -> None:
    production = example_profile("production")
    first = push_profile(aws("ssm"), _team(production, people=30, approvers=6))
    push_profile(aws("ssm"), _team(production, people=50, approvers=9))
    assert len(stored_version(aws("ssm"), "production", first.version).profile.people.people) == 30
    assert len(stored_version(aws("ssm"), "production").profile.people.people) == 50


def test_a_profile_is_stored_as_the_team_wrote_it_without_the_defaults(aws: Any) -> None:
    production = example_profile("production")
    value, _ = profile_store.stored_form(production)
    assert len(value) < len(production.model_dump_json()) * 0.6
    assert "image_scan_wait_seconds" not in value  # a default the profile does not set
    assert stored_version(aws("ssm"), "production").profile == production


def test_a_profile_past_what_parameter_store_holds_is_refused_before_anything_is_written(aws: Any) -> None:
    from chalicelib.domain.profiles import Attestation

    production = example_profile("production")
    many = [Attestation(id=f"item_{n:03d}", text="x" * 150) for n in range(60)]
    big = production.model_copy(update={"approvals": production.approvals.model_copy(update={"attestations": many})})
    before = len(history(aws("ssm"), "production"))
    with pytest.raises(
        profile_store.ProfileTooLarge, match=r"production: the profile is [\d,]+ characters stored .* at most 8,192"
    ):
        push_profile(aws("ssm"), big)
    assert len(history(aws("ssm"), "production")) == before


def _store_by_hand(aws: Any, environment: str, value: str) -> int:
    """A version written around `launchctl profile push` (the console, a script): whatever it says."""
    answer = aws("ssm").put_parameter(
        Name=profile_store.parameter_name(environment), Value=value, Type="String", Overwrite=True
    )
    return int(answer["Version"])


def test_a_bad_version_in_the_history_does_not_stop_the_push_that_mends_it(
    aws: Any, tmp_path: Any, capsys: Any
) -> None:
    """A version that is not JSON blocked push, show and diff (each parsed the whole history): the push
    stores and confirms the next version, show and diff say the bad one is bad, the history lists it."""
    bad = _store_by_hand(aws, "local", '{"name": "local", cut short')
    path = _file(tmp_path, _with_threshold(example_profile("local"), 750))
    assert cli.main(["profile", "diff", *API, "--env", "local", path]) == cli.EXIT_ERROR
    assert f"local version {bad} is not a valid profile" in capsys.readouterr().out
    assert cli.main(["profile", "show", *API, "--env", "local"]) == cli.EXIT_ERROR
    assert f"# local version {bad} is not a valid profile: " in capsys.readouterr().out
    assert cli.main(["profile", "push", *API, "--json", "--env", "local", path]) == cli.EXIT_OK
    pushed = json.loads(capsys.readouterr().out)
    assert (pushed["pushed"], pushed["version"]) == (True, bad + 1)
    assert cli.main(["profile", "show", *API, "--json", "--env", "local", "--history"]) == cli.EXIT_OK
    listed = json.loads(capsys.readouterr().out)
    assert [entry["version"] for entry in listed] == [1, bad, bad + 1]
    assert listed[1]["valid"] is False
    assert "not valid JSON" in listed[1]["problem"]
    assert current_profile("local", fresh=True).profile.bake.p95_latency_threshold_ms == 750


def test_every_invalid_version_is_named_even_another_environments_profile_stored_under_this_name(aws: Any) -> None:
    version = _store_by_hand(aws, "local", example_profile("staging").model_dump_json(exclude_defaults=True))
    with pytest.raises(ProfileError, match=rf"version {version}: name: 'staging' must be 'local'"):
        current_profile("local", fresh=True)


def test_one_environments_bad_profile_leaves_the_others_readable(aws: Any) -> None:
    _store_by_hand(aws, "staging", "not json")
    assert known_environments() == ["local", "production"]
    assert current_profile("local").profile == example_profile("local")


def test_a_changed_field_is_named_as_the_profile_writes_it_a_key_with_a_dot_quoted() -> None:
    from chalicelib.platform.profile_store import changes

    local = example_profile("local")
    people = dict(local.people.people)
    riley = people["riley.release@acme.example"]
    people["riley.release@acme.example"] = riley.model_copy(update={"github": []})
    changed = local.model_copy(update={"people": local.people.model_copy(update={"people": people})})
    assert changes(local, changed) == [
        {"field": 'people.people."riley.release@acme.example".github', "before": ["riley-release"], "after": []}
    ]
