"""A person is an identity the account vouches for: the people directory, workloads, separation of duties."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from chalicelib.api.callers import Unauthenticated, authenticate, person_of
from chalicelib.domain.models import Caller, LaunchStatus, Stage
from chalicelib.domain.profiles import EnvironmentProfile, ProfileError, load_profile_file
from chalicelib.platform.settings import IdentityConfig
from chalicelib.stages.approval_gate import request_approvals
from launchctl.examples import EXAMPLES_DIR as PROFILES_DIR
from tests.conftest import LAUNCH_BODY as BODY

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
TESS = "tess.lead@acme.example"
PAT = "pat.pm@acme.example"
QUINN = "quinn.qa@acme.example"
RILEY = "riley.release@acme.example"
# Identity Center's role for a permission set: only the SAML provider may assume it, and it names the
# session after the user; the caller cannot choose that name.
SSO_ROLE = f"arn:aws:iam::{ACCOUNT}:role/AWSReservedSSO_LaunchApprover_0a1b2c3d4e5f6789"
DEPLOYER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/Deployer"
ALL = ["code_freeze", "rollback_plan", "on_call", "runbooks"]


@pytest.fixture
def directory(aws: Any) -> EnvironmentProfile:
    """The local profile as deployed, with Identity Center's approver role trusted to name people, tess
    allowed to launch (so she can be both requester and approver) and the Deployer role a workload."""
    from chalicelib.platform.profile_store import push_profile

    local = load_profile_file(PROFILES_DIR / "local.toml")
    data = local.model_dump(mode="json")
    data["callers"]["iam_principals"] += [f"arn:aws:iam::{ACCOUNT}:user/{TESS}", DEPLOYER_ROLE]
    data["people"]["identity_provider_roles"] = [
        f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_LaunchApprover_*"
    ]
    for person in (TESS, PAT, QUINN):
        data["people"]["people"][person]["session_names"] = [person]
    # The roles as IAM holds them: Identity Center's for the permission set, trusting its SAML provider only;
    # the Deployer a pipeline's, which only CodeBuild may assume.
    provider = aws("iam").create_saml_provider(
        Name=SSO_PROVIDER_NAME, SAMLMetadataDocument="<EntityDescriptor>" + "x" * 1000 + "</EntityDescriptor>"
    )["SAMLProviderArn"]
    _role(aws, SSO_ROLE, SSO_PATH, _trust({"Federated": provider}, ["sts:AssumeRoleWithSAML", "sts:TagSession"]))
    _role(aws, DEPLOYER_ROLE, "/", _trust({"Service": "codebuild.amazonaws.com"}, ["sts:AssumeRole"]))
    return push_profile(aws("ssm"), EnvironmentProfile.model_validate(data)).profile


SSO_PATH = "/aws-reserved/sso.amazonaws.com/"
SSO_PROVIDER_NAME = "AWSSSO_0123456789abcdef_DO_NOT_DELETE"


def _trust(principal: dict[str, Any], actions: list[str]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": principal, "Action": actions}]}


def _role(aws: Any, arn: str, path: str, trust: dict[str, Any]) -> None:
    aws("iam").create_role(RoleName=arn.rsplit("/", 1)[-1], Path=path, AssumeRolePolicyDocument=json.dumps(trust))


def _post(client: Any, path: str, body: dict[str, Any]) -> Any:
    return client.http.post(path, headers={"Content-Type": "application/json"}, body=json.dumps(body))


def _at_the_gate(client: Any, store: Any, aws: Any, profile: EnvironmentProfile, starter: Any = None) -> str:
    """A launch started by `starter` (default: the release workflow), waiting for sign-off."""
    answer = _post(starter or client, "/launches", BODY)
    assert answer.status_code == 202, answer.json_body
    launch_id = answer.json_body["launch_id"]
    preflighted = store.set_status(launch_id, LaunchStatus.PREFLIGHT)
    topic = aws("sns").create_topic(Name="approvals")["TopicArn"]
    request_approvals(store, preflighted, profile, "token", aws("sns"), topic, "https://api.example/api", b"k" * 32)
    store.set_status(launch_id, LaunchStatus.AWAITING_APPROVAL, stage=Stage.APPROVALS)  # the stage's exit
    return launch_id


def _decide(client: Any, launch_id: str, role: str) -> Any:
    return _post(client, f"/launches/{launch_id}/approvals", {"role": role, "decision": "approve", "attestations": ALL})


@pytest.mark.parametrize("account", [ACCOUNT, OTHER_ACCOUNT])
def test_a_role_session_named_after_an_approver_is_a_workload_not_that_person(
    client: Any, store: Any, aws: Any, directory: EnvironmentProfile, account: str
) -> None:
    launch_id = _at_the_gate(client, store, aws, directory)
    impostor = client.as_role_session(f"arn:aws:iam::{account}:role/Anything", PAT)
    decided = _decide(impostor, launch_id, "product_manager")
    assert decided.status_code == 403, decided.json_body
    assert "workload" in decided.json_body["error"]["message"]
    assert impostor.http.get(f"/launches/{launch_id}").status_code == 403
    assert impostor.http.get("/launches").status_code == 403
    unlocked = _post(impostor, "/environments/local/unlock", {"reason": "I am pat, trust me"})
    assert unlocked.status_code == 403
    assert store.approvals(launch_id) == []


@pytest.mark.parametrize(
    "role",
    [
        f"arn:aws:iam::{ACCOUNT}:role/AWSReservedSSO_LaunchApprover_made-by-hand",
        f"arn:aws:iam::{ACCOUNT}:role/AWSReservedSSO_LaunchApprover_0a1b2c3d4e5f6789x",
        f"arn:aws:iam::{ACCOUNT}:role/AWSReservedSSO_LaunchApproverX_0a1b2c3d4e5f6789",
    ],
)
def test_the_identity_center_wildcard_stands_for_its_generated_suffix_only(
    client: Any, store: Any, aws: Any, directory: EnvironmentProfile, role: str
) -> None:
    launch_id = _at_the_gate(client, store, aws, directory)
    assert _decide(client.as_role_session(role, PAT), launch_id, "product_manager").status_code == 403


def test_an_identity_provider_role_only_counts_in_its_own_account(
    client: Any, store: Any, aws: Any, directory: EnvironmentProfile
) -> None:
    launch_id = _at_the_gate(client, store, aws, directory)
    lookalike = SSO_ROLE.replace(ACCOUNT, OTHER_ACCOUNT)
    decided = _decide(client.as_role_session(lookalike, PAT), launch_id, "product_manager")
    assert decided.status_code == 403


def test_a_session_of_a_listed_workload_role_may_launch_but_not_decide_or_unlock(
    client: Any, store: Any, aws: Any, directory: EnvironmentProfile
) -> None:
    deployer = client.as_role_session(DEPLOYER_ROLE, QUINN)
    launch_id = _at_the_gate(client, store, aws, directory, starter=deployer)
    launch = store.get_launch(launch_id)
    assert launch.requested_by == f"arn:aws:sts::{ACCOUNT}:assumed-role/Deployer/{QUINN}"
    assert launch.requesters == []
    assert deployer.http.get(f"/launches/{launch_id}").status_code == 200  # it may launch, so it may read
    assert _decide(deployer, launch_id, "qa_lead").status_code == 403
    assert _post(deployer, "/environments/local/unlock", {"reason": "it is all fine, really"}).status_code == 403


def test_an_identity_center_session_is_its_person_and_the_record_keeps_the_verified_caller(
    client: Any, store: Any, aws: Any, directory: EnvironmentProfile
) -> None:
    launch_id = _at_the_gate(client, store, aws, directory)
    decided = _decide(client.as_role_session(SSO_ROLE, PAT), launch_id, "product_manager")
    assert decided.status_code == 200, decided.json_body
    assert decided.json_body["decided_by"] == PAT
    assert decided.json_body["caller"]["claims"]["Account"] == ACCOUNT
    [approval] = store.approvals(launch_id)
    assert approval.approver == PAT
    assert approval.caller is not None
    session_arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/{SSO_ROLE.rsplit('/', 1)[1]}/{PAT}"
    assert approval.caller.subject == session_arn
    assert approval.caller.claims["Account"] == ACCOUNT
    assert approval.caller.claims["UserId"].endswith(f":{PAT}")
    shown = client.http.get(f"/launches/{launch_id}").json_body
    assert shown["approvals"][0]["caller"]["claims"]["Arn"] == approval.caller.subject
    event = next(event for event in shown["timeline"] if event["kind"] == "approval")
    assert event["details"]["caller"]["claims"]["Arn"] == approval.caller.subject


def test_a_requester_cannot_approve_through_a_second_session(
    client: Any, store: Any, aws: Any, directory: EnvironmentProfile
) -> None:
    launch_id = _at_the_gate(client, store, aws, directory, starter=client.as_person(TESS))
    assert store.get_launch(launch_id).requesters == [TESS]
    decided = _decide(client.as_role_session(SSO_ROLE, TESS), launch_id, "tech_lead")
    assert decided.status_code == 403
    assert decided.json_body["error"]["code"] == "separation_of_duties"


@pytest.mark.parametrize("claim", ["actor", "triggering_actor"])
def test_the_person_who_triggered_a_github_launch_cannot_approve_it(
    client: Any, store: Any, aws: Any, directory: EnvironmentProfile, claim: str
) -> None:
    job = client.as_github(**{claim: "Tess-Lead"})  # GitHub logins are case-insensitive
    launch_id = _at_the_gate(client, store, aws, directory, starter=job)
    launch = store.get_launch(launch_id)
    assert launch.requested_by == "github:acme/shop"
    assert TESS in launch.requesters
    decided = _decide(client.as_person(TESS), launch_id, "tech_lead")
    assert decided.status_code == 403
    assert decided.json_body["error"]["code"] == "separation_of_duties"


def test_unlock_abort_and_rollback_records_keep_the_verified_caller(
    client: Any, store: Any, directory: EnvironmentProfile
) -> None:
    launch_id = _post(client, "/launches", BODY).json_body["launch_id"]
    aborted = _post(client.as_person(RILEY), f"/launches/{launch_id}/abort", {"reason": "wrong build"})
    assert aborted.status_code == 202
    assert aborted.json_body["abort"]["aborted_by"] == RILEY
    caller = aborted.json_body["abort"]["caller"]
    assert caller["claims"]["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/{RILEY}"
    assert caller["claims"]["UserId"]
    assert store.get_launch(launch_id).abort["caller"]["person"] == RILEY
    store.set_status(launch_id, LaunchStatus.ABORTED)
    unlocked = _post(client.as_person(RILEY), "/environments/local/unlock", {"reason": "checked by hand, sound"})
    assert unlocked.status_code == 200, unlocked.json_body
    assert unlocked.json_body["caller"]["claims"]["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/{RILEY}"
    event = store.timeline(launch_id)[-1]
    assert (event.kind, event.details["caller"]["person"]) == ("unlocked", RILEY)


def test_an_iam_user_counts_as_a_person_only_by_its_full_arn(profile: EnvironmentProfile) -> None:
    def user(arn: str) -> Caller:
        return Caller(kind="iam", subject=arn, name=arn, claims={"Arn": arn, "Account": arn.split(":")[4]})

    assert person_of(user(f"arn:aws:iam::{ACCOUNT}:user/{PAT}"), profile) == PAT
    assert person_of(user(f"arn:aws:iam::{OTHER_ACCOUNT}:user/{PAT}"), profile) is None
    assert person_of(user(f"arn:aws:iam::{ACCOUNT}:user/ops/{PAT}"), profile) is None


def test_a_directory_binding_one_identity_to_two_people_or_a_wildcard_over_roles_is_refused(
    tmp_path: Path,
) -> None:
    data = load_profile_file(PROFILES_DIR / "local.toml").model_dump(mode="json")
    data["people"]["people"][PAT]["iam_users"] = [f"arn:aws:iam::{ACCOUNT}:user/{TESS}"]
    (tmp_path / "local.json").write_text(json.dumps(data))
    with pytest.raises(ProfileError, match="bound to both"):
        load_profile_file(tmp_path / "local.json")
    data = load_profile_file(PROFILES_DIR / "local.toml").model_dump(mode="json")
    data["people"]["identity_provider_roles"] = [f"arn:aws:iam::{ACCOUNT}:role/*"]
    (tmp_path / "local.json").write_text(json.dumps(data))
    with pytest.raises(ProfileError, match="identity_provider_roles"):
        load_profile_file(tmp_path / "local.json")


# -- tokens that are not SigV4 presigned requests never reach STS ---------------------------------------


def _query_without(token: str, *names: str, endpoint: str | None = None) -> str:
    import base64
    import urllib.parse

    url = base64.urlsafe_b64decode(token.removeprefix("Bearer aws-iam-v1.") + "==").decode()
    parts = urllib.parse.urlsplit(url)
    if endpoint:
        parts = parts._replace(netloc=urllib.parse.urlsplit(endpoint).netloc)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k not in names]
    stripped = urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))
    return "Bearer aws-iam-v1." + base64.urlsafe_b64encode(stripped.encode()).decode().rstrip("=")


# An STS endpoint nobody answers on: a token forwarded there would be a 503, not a 401.
NOBODY = "http://127.0.0.1:9"


@pytest.mark.parametrize(
    "stripped",
    [
        ("X-Amz-Signature",),
        ("X-Amz-Credential",),
        ("X-Amz-Date",),
        ("X-Amz-Expires",),
        ("X-Amz-Algorithm",),
        ("X-Amz-Signature", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-Algorithm"),
    ],
)
def test_a_stripped_iam_token_is_refused_before_sts_is_asked(people: Any, stripped: tuple[str, ...]) -> None:
    token = _query_without(people.iam_token(PAT)(), *stripped, endpoint=NOBODY)
    with pytest.raises(Unauthenticated, match=r"SigV4|X-Amz"):
        authenticate(token, IdentityConfig(oidc_audience="launch-controller", sts_endpoint=NOBODY))


def test_a_complete_token_is_forwarded_so_the_check_above_is_not_vacuous(people: Any) -> None:
    from chalicelib.api.callers import IdentityProviderUnavailable

    with pytest.raises(IdentityProviderUnavailable):
        authenticate(
            _query_without(people.iam_token(PAT)(), endpoint=NOBODY),
            IdentityConfig(oidc_audience="launch-controller", sts_endpoint=NOBODY),
        )


def test_a_stripped_iam_token_is_a_401_at_the_api(client: Any, people: Any) -> None:
    token = _query_without(people.iam_token(PAT)(), "X-Amz-Signature")
    answer = client.with_credential(lambda: token).http.get("/launches")
    assert answer.status_code == 401
    assert answer.json_body["error"]["code"] == "unauthenticated"


def test_the_local_sts_refuses_an_unsigned_get_caller_identity(sts_endpoint: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{sts_endpoint}/?Action=GetCallerIdentity&Version=2011-06-15", timeout=5)
    assert 400 <= refused.value.code < 500
    assert b"MissingAuthenticationToken" in refused.value.read()


def test_a_user_of_another_account_named_after_an_approver_is_known_for_who_it_is_and_refused(
    client: Any, store: Any, aws: Any, directory: EnvironmentProfile
) -> None:
    """Over HTTP, as the API asks STS: an IAM user of another account is identified (its own account's ARN,
    not a refusal of its token) and is no person of the directory, which binds users by their whole ARN."""
    launch_id = _at_the_gate(client, store, aws, directory)
    elsewhere = client.with_credential(client._people.iam_token(PAT, account=OTHER_ACCOUNT))
    decided = _decide(elsewhere, launch_id, "product_manager")
    assert decided.status_code == 403, decided.json_body
    assert f"arn:aws:iam::{OTHER_ACCOUNT}:user/{PAT}" in decided.json_body["error"]["message"]
    assert store.approvals(launch_id) == []


def test_a_session_of_another_accounts_role_is_identified_as_that_account_over_http(
    client: Any, store: Any, aws: Any, directory: EnvironmentProfile
) -> None:
    """The local STS answered such a session as `user/moto` of the default account: now as AWS does."""
    impostor = client.as_role_session(f"arn:aws:iam::{OTHER_ACCOUNT}:role/Anything", PAT)
    refused = impostor.http.get("/launches")
    assert refused.status_code == 403
    assert f"arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/Anything/{PAT}" in refused.json_body["error"]["message"]


ROOT_TRUST = {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}


@pytest.mark.parametrize(
    ("path", "trust", "why"),
    [
        ("/", _trust(ROOT_TRUST, ["sts:AssumeRole"]), "not at the path the profile lists"),
        (SSO_PATH, _trust(ROOT_TRUST, ["sts:AssumeRole"]), "admits more than the account's Identity Center"),
    ],
    ids=["made-at-the-root-path", "made-at-identity-centers-path-trusting-the-account"],
)
def test_a_role_named_like_identity_centers_is_verified_with_iam_before_its_session_names_a_person(
    client: Any, store: Any, aws: Any, directory: EnvironmentProfile, path: str, trust: dict[str, Any], why: str
) -> None:
    """Anyone who may make a role may name it AWSReservedSSO_LaunchApprover_<16 hex> (an assumed-role ARN
    carries no path): the controller reads the role with IAM, its path and its trust policy, and a role that
    is not Identity Center's names no person, whatever its sessions are called."""
    forged = f"arn:aws:iam::{ACCOUNT}:role/AWSReservedSSO_LaunchApprover_1111111111111111"
    _role(aws, forged, path, trust)
    launch_id = _at_the_gate(client, store, aws, directory)
    decided = _decide(client.as_role_session(forged, PAT), launch_id, "product_manager")
    assert decided.status_code == 403, decided.json_body
    assert why in decided.json_body["error"]["message"]
    assert store.approvals(launch_id) == []


def test_a_workload_role_people_may_assume_cannot_start_a_launch(
    client: Any, store: Any, aws: Any, directory: EnvironmentProfile
) -> None:
    """A person who may assume a role listed as a workload would start under a session name of their choosing
    and then approve as themselves: a start must have a person behind it, or come from a role no person can
    assume (AWS's services, an OIDC identity bound to its subject)."""
    aws("iam").update_assume_role_policy(
        RoleName="Deployer", PolicyDocument=json.dumps(_trust(ROOT_TRUST, ["sts:AssumeRole"]))
    )
    from chalicelib.platform import roles

    roles.forget()  # what IAM says of it changed: a container would see it within KEEP_SECONDS
    started = _post(client.as_role_session(DEPLOYER_ROLE, QUINN), "/launches", BODY)
    assert started.status_code == 403, started.json_body
    assert f"may be assumed by AWS principals (arn:aws:iam::{ACCOUNT}:root)" in started.json_body["error"]["message"]


def test_an_oidc_workload_is_one_only_with_a_condition_on_its_subject(aws: Any) -> None:
    from chalicelib.platform.roles import RoleFacts, people_who_may_assume

    provider = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
    bound = _trust({"Federated": provider}, ["sts:AssumeRoleWithWebIdentity"])
    bound["Statement"][0]["Condition"] = {
        "StringEquals": {"token.actions.githubusercontent.com:sub": "repo:acme/shop:environment:production"}
    }
    unbound = _trust({"Federated": provider}, ["sts:AssumeRoleWithWebIdentity"])
    assert people_who_may_assume(RoleFacts(arn=DEPLOYER_ROLE, path="/", trust=bound["Statement"])) is None
    assert "no condition on the subject" in str(
        people_who_may_assume(RoleFacts(arn=DEPLOYER_ROLE, path="/", trust=unbound["Statement"]))
    )
