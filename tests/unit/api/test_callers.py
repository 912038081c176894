"""Caller identity: GitHub OIDC tokens and IAM tokens verified, then authorised by the profile's claims."""

from __future__ import annotations

import base64
import urllib.parse
from typing import Any

import pytest
from localaws.oidc import SigningKey

from chalicelib.api.callers import (
    IdentityConfig,
    IdentityProviderUnavailable,
    Unauthenticated,
    authenticate,
    may_launch,
)
from chalicelib.domain.models import Caller
from launchctl.examples import example_profile


@pytest.fixture
def config(issuer: Any) -> IdentityConfig:
    return IdentityConfig(oidc_issuer=issuer.url, oidc_audience="launch-controller")


def _bearer(token: str) -> str:
    return f"Bearer {token}"


def test_a_token_the_issuer_signed_names_the_repository_and_keeps_the_run(issuer: Any, config: IdentityConfig) -> None:
    caller = authenticate(_bearer(issuer.issue(run_id="77", run_attempt="2")), config)
    assert caller.kind == "github"
    assert caller.name == "github:acme/shop"
    assert caller.subject == "repo:acme/shop:environment:local"
    assert (caller.claims["run_id"], caller.claims["run_attempt"], caller.claims["environment"]) == ("77", "2", "local")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"issuer": "https://token.actions.githubusercontent.com"}, "issuer"),
        ({"audience": "sts.amazonaws.com"}, "audience"),
        ({"lifetime": -120}, "expired"),
    ],
)
def test_a_token_with_the_wrong_issuer_audience_or_expiry_is_refused(
    issuer: Any, config: IdentityConfig, change: dict[str, Any], reason: str
) -> None:
    with pytest.raises(Unauthenticated, match=reason):
        authenticate(_bearer(issuer.issue(**change)), config)


def test_a_token_signed_by_another_key_under_the_issuers_key_id_is_refused(issuer: Any, config: IdentityConfig) -> None:
    impostor = SigningKey()
    impostor.kid = issuer.key.kid
    with pytest.raises(Unauthenticated, match="signature"):
        authenticate(_bearer(issuer.issue(key=impostor)), config)


def test_a_token_signed_by_a_key_the_issuer_does_not_publish_is_refused(issuer: Any, config: IdentityConfig) -> None:
    with pytest.raises(Unauthenticated, match="signing key"):
        authenticate(_bearer(issuer.issue(key=SigningKey())), config)


def test_an_altered_claim_breaks_the_signature(issuer: Any, config: IdentityConfig) -> None:
    header, payload, signature = issuer.issue().split(".")
    claims = base64.urlsafe_b64decode(payload + "==").replace(b"acme/shop", b"evil/shop")
    forged = base64.urlsafe_b64encode(claims).decode().rstrip("=")
    with pytest.raises(Unauthenticated, match="signature"):
        authenticate(_bearer(f"{header}.{forged}.{signature}"), config)


def test_only_rs256_is_accepted(issuer: Any, config: IdentityConfig) -> None:
    import jwt

    unsigned = jwt.encode({"repository": "acme/shop"}, key=None, algorithm="none")
    with pytest.raises(Unauthenticated, match="algorithm"):
        authenticate(_bearer(unsigned), config)
    with pytest.raises(Unauthenticated, match="algorithm"):
        authenticate(_bearer(jwt.encode({"repository": "acme/shop"}, "k" * 32, algorithm="HS256")), config)


@pytest.mark.parametrize("header", [None, "", "Basic dXNlcjpwYXNz", "Bearer ", "Bearer not-a-jwt"])
def test_a_missing_or_malformed_credential_is_refused(config: IdentityConfig, header: str | None) -> None:
    with pytest.raises(Unauthenticated):
        authenticate(header, config)


def test_an_unreachable_issuer_is_the_servers_trouble_not_the_callers(issuer: Any) -> None:
    config = IdentityConfig(
        oidc_issuer=issuer.url, oidc_audience="launch-controller", jwks_url="http://127.0.0.1:9/.well-known/jwks"
    )
    with pytest.raises(IdentityProviderUnavailable):
        authenticate(_bearer(issuer.issue()), config)


# -- authorisation by claims -------------------------------------------------------------------------


def _github(**claims: str) -> Caller:
    base = {"repository": "acme/shop", "environment": "", "ref_protected": "false"}
    return Caller(kind="github", subject="repo:acme/shop:ref:refs/heads/x", name="github:x", claims=base | claims)


def test_production_takes_its_own_repository_from_its_production_environment_only() -> None:
    production = example_profile("production")
    assert may_launch(_github(environment="production"), production)
    assert not may_launch(_github(environment="staging"), production)
    # A protected ref is not enough for production: the environment's protection rules must have held the job.
    assert not may_launch(_github(ref_protected="true"), production)
    assert not may_launch(_github(repository="acme/shop-fork", environment="production"), production)


def test_staging_also_takes_a_job_on_a_protected_ref() -> None:
    staging = example_profile("staging")
    assert may_launch(_github(ref_protected="true"), staging)
    assert not may_launch(_github(ref_protected="false"), staging)


def test_the_subject_alone_never_authorises() -> None:
    production = example_profile("production")
    lookalike = Caller(
        kind="github",
        subject="repo:acme/shop:environment:production",
        name="github:acme/shop-evil",
        claims={"repository": "acme/shop-evil", "environment": "production-like"},
    )
    assert not may_launch(lookalike, production)


def test_an_assumed_role_session_counts_as_its_role() -> None:
    example = example_profile("production")
    listed = [*example.callers.iam_principals, "arn:aws:iam::123456789012:role/ReleaseEngineer"]
    production = example.model_copy(update={"callers": example.callers.model_copy(update={"iam_principals": listed})})
    session = Caller(
        kind="iam",
        subject="arn:aws:sts::123456789012:assumed-role/ReleaseEngineer/sam@acme.example",
        name="sam@acme.example",
    )
    assert session.principal == "arn:aws:iam::123456789012:role/ReleaseEngineer"
    assert may_launch(session, production)
    other = session.model_copy(update={"subject": "arn:aws:sts::123456789012:assumed-role/Developer/sam@acme.example"})
    assert not may_launch(other, production)


# -- IAM tokens ------------------------------------------------------------------------------------------


@pytest.fixture
def iam(people: Any, sts_endpoint: str) -> tuple[Any, IdentityConfig]:
    return people, IdentityConfig(oidc_audience="launch-controller", sts_endpoint=sts_endpoint)


def _url(token: str) -> str:
    return base64.urlsafe_b64decode(token.removeprefix("Bearer aws-iam-v1.") + "==").decode()


def _token(url: str) -> str:
    return "Bearer aws-iam-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def test_an_iam_token_names_the_user_who_signed_it(iam: tuple[Any, IdentityConfig]) -> None:
    people, config = iam
    caller = authenticate(people.iam_token("sam@acme.example")(), config)
    arn = "arn:aws:iam::123456789012:user/sam@acme.example"
    assert (caller.kind, caller.name, caller.subject) == ("iam", arn, arn)
    assert (caller.claims["Arn"], caller.claims["Account"]) == (arn, "123456789012")
    assert caller.claims["UserId"]  # the user's unique id (AIDA… on AWS), kept for the record
    assert caller.person is None  # a person only once a profile's people directory says so


def _altered(url: str, name: str, value: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    query[name] = value
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("X-Amz-Signature", "0" * 64, "signature"),
        ("X-Amz-Credential", "AKIA0000000000000000/20261128/us-east-1/sts/aws4_request", "security token"),
        ("X-Amz-Expires", "3600", "at most"),
        ("X-Amz-Date", "20200101T000000Z", "expired"),
        ("Action", "GetSessionToken", "GetCallerIdentity"),
        ("X-Amz-SignedHeaders", "host", "x-launch-controller-audience"),
    ],
)
def test_an_altered_iam_token_is_refused(iam: tuple[Any, IdentityConfig], name: str, value: str, reason: str) -> None:
    people, config = iam
    url = _url(people.iam_token("sam@acme.example")())
    with pytest.raises(Unauthenticated, match=reason):
        authenticate(_token(_altered(url, name, value)), config)


def test_an_iam_token_made_for_another_audience_is_refused(iam: tuple[Any, IdentityConfig]) -> None:
    people, config = iam
    token = people.iam_token("sam@acme.example")()
    with pytest.raises(Unauthenticated, match="signature"):
        authenticate(token, config.model_copy(update={"oidc_audience": "another-controller"}))


def test_an_iam_token_for_another_sts_endpoint_is_not_forwarded(iam: tuple[Any, IdentityConfig]) -> None:
    people, config = iam
    url = _url(people.iam_token("sam@acme.example")())
    elsewhere = url.replace(urllib.parse.urlsplit(url).netloc, "attacker.example")
    with pytest.raises(Unauthenticated, match="another endpoint"):
        authenticate(_token(elsewhere), config)


def test_a_token_sts_vouched_for_is_believed_until_it_expires_without_asking_again(
    iam: tuple[Any, IdentityConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.api import callers

    people, config = iam
    asked: list[str] = []
    ask = callers._ask_sts

    def counted(*args: Any) -> dict[str, str]:
        asked.append("sts")
        return ask(*args)

    monkeypatch.setattr(callers, "_ask_sts", counted)
    token = people.iam_token("sam@acme.example")()
    first = authenticate(token, config)
    again = authenticate(token, config)
    assert first == again
    assert asked == ["sts"]
    # Another controller's audience is another question, asked of STS (which refuses it).
    with pytest.raises(Unauthenticated, match="signature"):
        authenticate(token, config.model_copy(update={"oidc_audience": "another-controller"}))
    assert asked == ["sts", "sts"]


def test_the_verified_identities_forget_an_expired_token_and_keep_at_most_their_bound() -> None:
    from datetime import UTC, datetime, timedelta

    from chalicelib.api.callers import VerifiedIdentities

    kept = VerifiedIdentities()
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    kept.put("a", {"Arn": "arn:a"}, now + timedelta(seconds=60))
    assert kept.get("a", now) == {"Arn": "arn:a"}
    assert kept.get("a", now + timedelta(seconds=61)) is None
    for n in range(VerifiedIdentities.MOST + 5):
        kept.put(f"t{n}", {"Arn": f"arn:{n}"}, now + timedelta(seconds=100 + n))
    assert kept.get("t0", now) is None  # the soonest to expire went first
    assert kept.get(f"t{VerifiedIdentities.MOST + 4}", now) == {"Arn": f"arn:{VerifiedIdentities.MOST + 4}"}


def test_by_default_a_token_must_name_this_controllers_own_host_so_another_controllers_is_refused(
    issuer: Any,
) -> None:
    """Every deployment shared the audience launch-controller, so a token minted for one controller (staging,
    another team's) was good at any other for its lifetime. By default each expects its API's own host, the
    domain API Gateway says the request reached."""
    from chalicelib.platform.settings import Settings

    here = "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com"
    there = "f6g7h8i9j0.execute-api.eu-west-1.amazonaws.com"
    config = Settings(table_name="t", oidc_issuer=issuer.url).identity(host=here)
    assert config.oidc_audience == here
    assert authenticate(_bearer(issuer.issue(audience=here)), config).kind == "github"
    for elsewhere in (there, "launch-controller"):
        with pytest.raises(Unauthenticated, match="audience"):
            authenticate(_bearer(issuer.issue(audience=elsewhere)), config)
    # A deployment that names its audience expects that one, whatever host it is reached at.
    named = Settings(table_name="t", oidc_issuer=issuer.url, oidc_audience="acme-releases").identity(host=here)
    assert named.oidc_audience == "acme-releases"


def test_the_cli_and_the_action_bind_their_tokens_to_the_apis_host_by_default() -> None:
    import argparse

    from launchctl.cli import audience_of

    api = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/api"
    assert audience_of(argparse.Namespace(api=api, audience=None)) == "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com"
    assert audience_of(argparse.Namespace(api=api, audience="acme-releases")) == "acme-releases"
