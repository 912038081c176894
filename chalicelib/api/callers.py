"""Who is calling the API: GitHub Actions OIDC tokens and AWS IAM identities, verified and authorised."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.domain.models import Caller
from chalicelib.domain.profiles import EnvironmentProfile
from chalicelib.platform.profile_store import load_profile_all
from chalicelib.platform.roles import (
    RoleUnverifiable,
    identity_center_refusal,
    people_who_may_assume,
    principal_matches,
    role_facts,
)
from chalicelib.platform.runtime import kept
from chalicelib.platform.settings import IdentityConfig
from chalicelib.platform.wiring import role_reader

# The IAM token: a presigned sts:GetCallerIdentity URL, base64url, after this prefix (the EKS pattern).
IAM_TOKEN_PREFIX = "aws-iam-v1."  # noqa: S105 - a token format, not a secret
# The header the IAM token's signature covers, naming this controller, so a token made for
# another service (or another controller) cannot be replayed here.
AUDIENCE_HEADER = "x-launch-controller-audience"
MAX_IAM_TOKEN_SECONDS = 900
CLOCK_SKEW = timedelta(minutes=5)
# What a SigV4 presigned request carries; without any of them STS is not asked at all.
_SIGV4_QUERY = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)


class Unauthenticated(Exception):
    """No credential, or one that does not verify (401)."""


class Forbidden(Exception):
    """A verified caller the environment's profile does not allow to do this (403)."""


class IdentityProviderUnavailable(Exception):
    """The OIDC issuer's keys or STS could not be reached; the caller's credential is not at fault (503)."""


def authenticate(authorization: str | None, config: IdentityConfig) -> Caller:
    """The caller an `Authorization: Bearer …` header proves, or Unauthenticated saying why not."""
    if not authorization:
        raise Unauthenticated("no credential: send 'Authorization: Bearer <GitHub OIDC token or IAM token>'")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
    token = token.strip()
    if token.startswith(IAM_TOKEN_PREFIX):
        return verify_iam_token(token, config)
    return verify_github_token(token, config)


# -- GitHub Actions OIDC ---------------------------------------------------------------------------

# The claims worth keeping with a launch: which workflow run, on what, by whom.
GITHUB_RECORDED_CLAIMS = (
    "repository",
    "repository_id",
    "repository_owner",
    "ref",
    "ref_protected",
    "ref_type",
    "sha",
    "environment",
    "workflow",
    "job_workflow_ref",
    "run_id",
    "run_attempt",
    "actor",
    "actor_id",
    "triggering_actor",
    "event_name",
)


@kept
def _jwks_client(url: str) -> Any:
    """One key set client per URL for the container's life: keys cached, refetched for an unknown kid."""
    from jwt import PyJWKClient  # PyJWT with cryptography: only for a caller that brings a JWT

    return PyJWKClient(url, cache_keys=True, lifespan=600, timeout=5)


def verify_github_token(token: str, config: IdentityConfig) -> Caller:
    """Verify signature (the issuer's JWKS), issuer, audience and expiry; RS256 only."""
    import jwt  # PyJWT with cryptography: only for a caller that brings a JWT

    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError as exc:
        raise Unauthenticated(f"the token is not a JWT: {exc}") from None
    if header.get("alg") != "RS256":
        raise Unauthenticated(f"the token's algorithm {header.get('alg')!r} is not accepted (RS256 only)")
    try:
        key = _jwks_client(config.keys_url).get_signing_key_from_jwt(token)
    except jwt.PyJWKClientConnectionError as exc:
        raise IdentityProviderUnavailable(f"the OIDC issuer's keys could not be read: {exc}") from None
    except jwt.PyJWKClientError as exc:
        raise Unauthenticated(f"the token's signing key is not the issuer's: {exc}") from None
    try:
        claims = jwt.decode(
            token,
            key.key,
            algorithms=["RS256"],
            audience=config.oidc_audience,
            issuer=config.oidc_issuer,
            leeway=30,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("the token has expired") from None
    except jwt.InvalidAudienceError:
        raise Unauthenticated(f"the token's audience is not {config.oidc_audience!r}") from None
    except jwt.InvalidIssuerError:
        raise Unauthenticated(f"the token's issuer is not {config.oidc_issuer!r}") from None
    except jwt.InvalidSignatureError:
        raise Unauthenticated("the token's signature does not verify") from None
    except jwt.InvalidTokenError as exc:
        raise Unauthenticated(f"the token is not valid: {exc}") from None
    if not claims.get("repository"):
        raise Unauthenticated("the token has no repository claim; only GitHub Actions tokens are accepted")
    recorded = {name: str(claims[name]) for name in GITHUB_RECORDED_CLAIMS if claims.get(name) is not None}
    return Caller(kind="github", subject=str(claims["sub"]), name=f"github:{claims['repository']}", claims=recorded)


# -- AWS IAM ---------------------------------------------------------------------------------------


def verify_iam_token(token: str, config: IdentityConfig) -> Caller:
    """Ask STS who signed the presigned GetCallerIdentity request the token carries.

    STS checks the SigV4 signature; this checks the request is exactly that call, to the STS
    endpoint this deployment trusts, bound to this controller's audience, and short-lived."""
    try:
        url = base64.urlsafe_b64decode(token[len(IAM_TOKEN_PREFIX) :] + "==").decode()
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthenticated("the IAM token is not base64url") from None
    parsed = urllib.parse.urlsplit(url)
    trusted = urllib.parse.urlsplit(config.sts_endpoint)
    if (parsed.scheme, parsed.netloc) != (trusted.scheme, trusted.netloc) or parsed.path not in ("", "/"):
        raise Unauthenticated(f"the IAM token is signed for another endpoint than {config.sts_endpoint}")
    pairs = urllib.parse.parse_qsl(parsed.query, keep_blank_values=True)
    query = dict(pairs)
    if len(query) != len(pairs):
        raise Unauthenticated("the IAM token repeats a query parameter")
    if query.get("Action") != "GetCallerIdentity":
        raise Unauthenticated("the IAM token must presign sts:GetCallerIdentity")
    # Refused here, before STS is asked: a token that is not a complete SigV4 presigned request.
    missing = [name for name in _SIGV4_QUERY if not query.get(name)]
    if missing:
        raise Unauthenticated(f"the IAM token is not a SigV4 presigned request: no {', '.join(missing)}")
    if query["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256":
        raise Unauthenticated("the IAM token must be signed with AWS4-HMAC-SHA256")
    if not re.fullmatch(r"[0-9a-f]{64}", query["X-Amz-Signature"]):
        raise Unauthenticated("the IAM token's signature is not a SigV4 signature")
    if not re.fullmatch(r"[A-Z0-9]{16,128}/\d{8}/[a-z0-9-]+/sts/aws4_request", query["X-Amz-Credential"]):
        raise Unauthenticated("the IAM token's credential scope is not one for STS")
    if AUDIENCE_HEADER not in query["X-Amz-SignedHeaders"].split(";"):
        raise Unauthenticated(f"the IAM token's signature must cover the {AUDIENCE_HEADER} header")
    plain_date = re.fullmatch(r"\d{8}T\d{6}Z", query["X-Amz-Date"])
    if not plain_date or not re.fullmatch(r"[1-9]\d{0,5}", query["X-Amz-Expires"]):
        raise Unauthenticated("the IAM token has no valid X-Amz-Date / X-Amz-Expires")
    try:
        signed_at = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise Unauthenticated("the IAM token has no valid X-Amz-Date / X-Amz-Expires") from None
    lifetime = int(query["X-Amz-Expires"])
    moment = datetime.now(UTC)
    if lifetime > MAX_IAM_TOKEN_SECONDS or signed_at - CLOCK_SKEW > moment:
        raise Unauthenticated(f"the IAM token must be signed now, for at most {MAX_IAM_TOKEN_SECONDS} s")
    expires_at = signed_at + timedelta(seconds=lifetime)
    if expires_at < moment:
        raise Unauthenticated("the IAM token has expired")
    # A token STS vouched for is believed until it expires, without asking again: the same STS answer
    # each time, at a round trip a request. Kept by the token's digest (never the token), per container.
    verified = _verified_identities()
    digest = hashlib.sha256(f"{config.sts_endpoint}\n{config.oidc_audience}\n{token}".encode()).hexdigest()
    identity = verified.get(digest, moment)
    if identity is None:
        identity = _ask_sts(trusted, parsed.query, config)
        verified.put(digest, identity, expires_at)
    # Named by the ARN STS vouches for; a person only once a profile's people directory says so.
    return Caller(kind="iam", subject=identity["Arn"], name=identity["Arn"], claims=identity)


class VerifiedIdentities:
    """The identities STS vouched for, by token digest, each until its token expires; bounded."""

    MOST = 512

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._identities: dict[str, tuple[dict[str, str], datetime]] = {}

    def get(self, digest: str, moment: datetime) -> dict[str, str] | None:
        with self._lock:
            found = self._identities.get(digest)
            if found is None or found[1] < moment:
                self._identities.pop(digest, None)
                return None
            return found[0]

    def put(self, digest: str, identity: dict[str, str], expires_at: datetime) -> None:
        with self._lock:
            if len(self._identities) >= self.MOST:
                # The one that expires soonest goes: a busy container keeps the tokens still in use.
                del self._identities[min(self._identities, key=lambda key: self._identities[key][1])]
            self._identities[digest] = (identity, expires_at)


@kept
def _verified_identities() -> VerifiedIdentities:
    return VerifiedIdentities()


def _ask_sts(trusted: urllib.parse.SplitResult, query: str, config: IdentityConfig) -> dict[str, str]:
    """Send the presigned GetCallerIdentity to the trusted endpoint; who STS says signed it."""
    request = urllib.request.Request(
        urllib.parse.urlunsplit((trusted.scheme, trusted.netloc, "/", query, "")),
        headers={AUDIENCE_HEADER: config.oidc_audience, "Accept": "application/xml"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            body = answer.read()
    except urllib.error.HTTPError as exc:
        if 400 <= exc.code < 500:
            raise Unauthenticated(f"STS refused the IAM token ({exc.code}): {_sts_error(exc.read())}") from None
        raise IdentityProviderUnavailable(f"STS answered {exc.code}") from None
    except OSError as exc:
        raise IdentityProviderUnavailable(f"STS could not be reached: {exc}") from None
    return _caller_identity(body)


def _sts_error(body: bytes) -> str:
    try:
        root = ET.fromstring(body)  # noqa: S314 - STS's own answer, from the endpoint we chose
    except ET.ParseError:
        return body[:200].decode("utf-8", "replace")
    message = next((element.text for element in root.iter() if element.tag.endswith("Message")), None)
    return message or "no message"


def _caller_identity(body: bytes) -> dict[str, str]:
    try:
        root = ET.fromstring(body)  # noqa: S314 - STS's own answer, from the endpoint we chose
    except ET.ParseError:
        raise IdentityProviderUnavailable("STS answered something that is not XML") from None
    found = {element.tag.rsplit("}", 1)[-1]: (element.text or "") for element in root.iter()}
    if not found.get("Arn"):
        raise IdentityProviderUnavailable("STS's answer has no Arn")
    return {name: found.get(name, "") for name in ("Arn", "Account", "UserId")}


# -- Authorisation ---------------------------------------------------------------------------------


def may_launch(caller: Caller, profile: EnvironmentProfile) -> bool:
    """May this caller start, abort or roll back launches into the profile's environment?"""
    rules = profile.callers
    if caller.kind == "iam":
        return any(principal_matches(listed, caller.principal) for listed in rules.iam_principals)
    github = rules.github
    if github is None:
        return False
    claims = caller.claims
    if claims.get("repository", "").lower() not in {repo.lower() for repo in github.repositories}:
        return False
    if not github.environments and not github.protected_refs:
        return True
    # Never a match on `sub`: the claims themselves, exactly.
    by_environment = claims.get("environment") in github.environments
    by_protected_ref = github.protected_refs and claims.get("ref_protected") == "true"
    return by_environment or by_protected_ref


# What only a person, or a workload no person can act as, may do: each starts an execution whose requesters
# may not approve it.
STARTING = {"start", "roll back"}


def authorise_launch(caller: Caller, profile: EnvironmentProfile, action: str) -> None:
    if not may_launch(caller, profile):
        raise Forbidden(f"{caller.name} may not {action} launches into {profile.name!r} (see the profile's [callers])")
    refusal = workload_refusal(caller, profile) if action in STARTING else None
    if refusal:
        raise Forbidden(
            f"{caller.name} may not {action} launches into {profile.name!r}: {refusal}. Start as a person (an "
            "Identity Center session the people directory names), or from a role only AWS services or an OIDC "
            "identity bound to its subject may assume"
        )


_ASSUMED_ROLE = re.compile(r"arn:aws:sts::(?P<account>\d{12}):assumed-role/(?P<role>[^/]+)/(?P<session>.+)")
_IAM_USER = re.compile(r"arn:aws:iam::(?P<account>\d{12}):user/.+")


def person_of(caller: Caller, profile: EnvironmentProfile) -> str | None:
    """The person (email) the profile's people directory binds this verified identity to, or None.

    An IAM user counts by its ARN (account included). A role session counts only for a role whose session
    names an identity provider sets: any other session is a workload, whatever it is named."""
    return _person_and_why(caller, profile)[0]


def _person_and_why(caller: Caller, profile: EnvironmentProfile) -> tuple[str | None, str]:
    """The person, or why this identity is none (for the refusal's message)."""
    if caller.kind != "iam":
        return None, "a workflow's token is no person's"
    directory = profile.people
    arn = caller.subject
    if _IAM_USER.fullmatch(arn):
        bound = next((email for email, person in directory.people.items() if arn in person.iam_users), None)
        return bound, "the people directory binds no one to this IAM user"
    session = _ASSUMED_ROLE.fullmatch(arn)
    if session is None or caller.claims.get("Account") != session["account"]:
        return None, "not an IAM user or a role's session"
    role_arn = f"arn:aws:iam::{session['account']}:role/{session['role']}"
    listed = [item for item in directory.identity_provider_roles if principal_matches(item, role_arn)]
    if not listed:
        return None, "its role is not one whose sessions an identity provider names (any other session is a workload)"
    # The name alone proves nothing (anyone who may make a role may name it so, at any path): IAM says
    # whether the role is where the profile lists it and trusts only the account's Identity Center.
    refusal = _identity_role_refusal(role_arn, listed, profile)
    if refusal:
        return None, refusal
    name = session["session"].lower()
    bound = next(
        (email for email, person in directory.people.items() if name in {n.lower() for n in person.session_names}),
        None,
    )
    return bound, "the people directory binds no one to this session's name"


def _identity_role_refusal(role_arn: str, listed: list[str], profile: EnvironmentProfile) -> str | None:
    try:
        facts = role_facts(role_arn, role_reader(profile))
    except RoleUnverifiable as exc:
        return f"its role could not be verified: {exc}"
    except ClientError as exc:
        return f"its role could not be read with IAM: {exc.response.get('Error', {}).get('Code')}"
    if not any(_listed_path(item) == facts.path for item in listed):
        return f"its role {facts.arn} is not at the path the profile lists"
    return identity_center_refusal(facts)


def _listed_path(listed: str) -> str:
    """The path of a role ARN as a profile lists it (`role/aws-reserved/sso.amazonaws.com/Name_*`)."""
    role = listed.partition(":role/")[2]
    return "/" + role.rsplit("/", 1)[0] + "/" if "/" in role else "/"


def workload_refusal(caller: Caller, profile: EnvironmentProfile) -> str | None:
    """Why a role session with no person behind it may not start anything (None: its role is a true
    workload, one only AWS's services or a bound OIDC identity may assume). A person who may assume a
    workload's role could start a launch under a session name of their choosing and then approve it."""
    session = _ASSUMED_ROLE.fullmatch(caller.subject) if caller.kind == "iam" else None
    if session is None or _person_and_why(caller, profile)[0] is not None:
        return None
    role_arn = f"arn:aws:iam::{session['account']}:role/{session['role']}"
    try:
        who = people_who_may_assume(role_facts(role_arn, role_reader(profile)))
    except RoleUnverifiable as exc:
        return f"its role could not be verified as a workload: {exc}"
    except ClientError as exc:
        return f"its role could not be read with IAM: {exc.response.get('Error', {}).get('Code')}"
    if who:
        return f"its role {session['role']} may be assumed by {who}, so no one can tell who started this"
    return None


def identify(caller: Caller, profile: EnvironmentProfile) -> Caller:
    """The caller with the person the environment's people directory binds it to (None: a workload)."""
    return caller.model_copy(update={"person": person_of(caller, profile)})


def people_behind(caller: Caller, profile: EnvironmentProfile) -> list[str]:
    """Everyone a launch started by this caller is the work of: the person signed in, or the GitHub users
    whose push or re-run triggered the workflow (`actor`, `triggering_actor`), as the directory maps them."""
    if caller.kind == "iam":
        person = person_of(caller, profile)
        return [person] if person else []
    logins = {caller.claims.get(name, "").lower() for name in ("actor", "triggering_actor")} - {""}
    return sorted(
        email for email, person in profile.people.people.items() if logins & {login.lower() for login in person.github}
    )


def authorise_person(caller: Caller, profile: EnvironmentProfile, action: str) -> Caller:
    """Only a person the environment's people directory knows may do this (a decision, an unlock)."""
    if caller.kind != "iam":
        raise Forbidden(f"{action} needs a person's AWS identity, not a workflow's token")
    person, why = _person_and_why(caller, profile)
    if person is None:
        raise Forbidden(
            f"{caller.name} is not a person of {profile.name!r} ({why}): {action} needs an IAM user or an "
            "identity-provider session the profile's [people] directory binds to someone (any other role session is "
            "a workload)"
        )
    return caller.model_copy(update={"person": person})


def standing(caller: Caller) -> list[tuple[str, str | None, bool, list[str]]]:
    """Where the caller counts: (environment, person, may launch, roles they approve), each profile as now."""
    found = []
    for profile in load_profile_all():
        person = person_of(caller, profile)
        approves = [role for role in profile.approvals.roles if person and profile.approvals.may_approve(role, person)]
        launches = may_launch(caller, profile)
        if launches or approves or person:
            found.append((profile.name, person, launches, approves))
    return found


def authorise_reader(caller: Caller) -> None:
    """Reading launches: anyone some profile lets launch, and every approver the directory proves."""
    for profile in load_profile_all():
        if may_launch(caller, profile):
            return
        person = person_of(caller, profile)
        if person and any(profile.approvals.may_approve(role, person) for role in profile.approvals.roles):
            return
    raise Forbidden(f"{caller.name} is not a caller of any environment")
