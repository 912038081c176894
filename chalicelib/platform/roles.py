"""What IAM says of the role behind a caller's session: its path and whom its trust policy admits, read with
GetRole (an assumed-role ARN carries no path, and a role's name is anyone's to choose), kept a while.

Two questions are asked of it. Is it Identity Center's role for a permission set, so that its sessions are
named by Identity Center after the person (at `/aws-reserved/sso.amazonaws.com/`, trusting only the account's
Identity Center SAML provider)? And may people assume it (its trust admits an account, users or roles, SAML,
or an OIDC provider without a subject condition), so that a session of it is no workload but someone
unknown?"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel

from chalicelib.platform import runtime

# How long a container believes what IAM said of a role (a role's trust changes rarely; five minutes of a
# changed one is the price of not reading IAM on every request).
KEEP_SECONDS = 300
IDENTITY_CENTER_PATH = re.compile(r"^/aws-reserved/sso\.amazonaws\.com/(?:[a-z0-9-]+/)?$")
_SSO_PROVIDER = re.compile(r"^arn:aws[\w-]*:iam::(\d{12}):saml-provider/AWSSSO_[0-9a-f]+_DO_NOT_DELETE$")
_SAML_ACTIONS = {"sts:AssumeRoleWithSAML", "sts:TagSession"}


class RoleFacts(BaseModel):
    """A role as IAM holds it: its ARN (path included), its path, its trust policy's statements."""

    arn: str
    path: str
    trust: list[dict[str, Any]]


class RoleUnverifiable(Exception):
    """IAM could not be asked about the role (not in an account the controller reads, or not there)."""


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _allows(trust: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [statement for statement in trust if statement.get("Effect") == "Allow"]


def identity_center_refusal(facts: RoleFacts) -> str | None:
    """Why the role is not Identity Center's role for a permission set (None: it is)."""
    if not IDENTITY_CENTER_PATH.match(facts.path):
        return f"{facts.arn} is at the path {facts.path}, not Identity Center's /aws-reserved/sso.amazonaws.com/"
    account = facts.arn.split(":")[4]
    for statement in _allows(facts.trust):
        principal = statement.get("Principal", {})
        federated = _listed(principal.get("Federated", [])) if isinstance(principal, dict) else []
        others = sorted(set(principal) - {"Federated"}) if isinstance(principal, dict) else ["*"]
        providers = [_SSO_PROVIDER.match(str(name)) for name in federated]
        if others or not federated or not all(match and match.group(1) == account for match in providers):
            return f"{facts.arn}'s trust policy admits more than the account's Identity Center SAML provider"
        if not set(_listed(statement.get("Action", []))) <= _SAML_ACTIONS:
            return f"{facts.arn}'s trust policy allows more than sts:AssumeRoleWithSAML"
    if not _allows(facts.trust):
        return f"{facts.arn}'s trust policy admits nobody"
    return None


def people_who_may_assume(facts: RoleFacts) -> str | None:
    """Who, other than AWS's services and a workload's OIDC identity, the role's trust admits (None: no one):
    an account (its root stands for every user and role there), users, roles, a SAML provider, an OIDC
    provider without a condition on the subject."""
    for statement in _allows(facts.trust):
        principal = statement.get("Principal", {})
        if principal == "*" or (isinstance(principal, dict) and "*" in _listed(principal.get("AWS", []))):
            return "anyone"
        if not isinstance(principal, dict):
            return f"the principal {principal}"
        if principal.get("AWS"):
            return "AWS principals (" + ", ".join(sorted(map(str, _listed(principal["AWS"])))) + ")"
        for provider in map(str, _listed(principal.get("Federated", []))):
            if ":saml-provider/" in provider:
                return f"people through the SAML provider {provider}"
            host = provider.split(":oidc-provider/", 1)[-1]
            conditions = statement.get("Condition", {})
            subject_bound = any(
                key.lower() == f"{host}:sub".lower()
                for operator, keys in conditions.items()
                if operator.startswith(("StringEquals", "StringLike", "ForAnyValue:String", "ForAllValues:String"))
                for key in keys
            )
            if not subject_bound:
                return f"whoever the identity provider {provider} names (no condition on the subject)"
    return None


# -- reading, kept per container -------------------------------------------------------------------------

_lock = threading.Lock()


@runtime.kept
def _kept() -> dict[str, tuple[float, RoleFacts | str]]:
    return {}


def role_facts(role_arn: str, iam_of: Callable[[str], Any | None]) -> RoleFacts:
    """The role `role_arn` (`arn:aws:iam::<account>:role/<name>`, as a session's ARN names it) as IAM holds
    it, read through `iam_of(account)` (None: an account the controller does not read) and kept for
    KEEP_SECONDS; RoleUnverifiable saying why it could not be read."""
    account, name = role_arn.split(":")[4], role_arn.rsplit("/", 1)[-1]
    key = f"{account}/{name}"
    with _lock:
        found = _kept().get(key)
    if found is not None and time.monotonic() - found[0] < KEEP_SECONDS:
        if isinstance(found[1], str):
            raise RoleUnverifiable(found[1])
        return found[1]
    result: RoleFacts | str
    iam = iam_of(account)
    if iam is None:
        result = f"the role {name} is in the account {account}, whose roles the controller does not read"
    else:
        try:
            role = iam.get_role(RoleName=name)["Role"]
            trust = role["AssumeRolePolicyDocument"]
            if isinstance(trust, str):
                trust = json.loads(urllib.parse.unquote(trust))
            result = RoleFacts(arn=role["Arn"], path=role.get("Path", "/"), trust=_listed(trust.get("Statement", [])))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchEntity":
                raise  # not kept: the next request asks again (the caller says what it could not read)
            result = f"there is no role {name} in the account {account}"
    with _lock:
        _kept()[key] = (time.monotonic(), result)
    if isinstance(result, str):
        raise RoleUnverifiable(result)
    return result


def forget() -> None:
    """Forget what this container read (a test that changed a role's trust)."""
    with _lock:
        _kept().clear()


def principal_matches(listed: str, principal: str) -> bool:
    """A user or role as a profile lists it (account included) against a caller's user or role ARN.

    A role matches by account and name (an assumed-role ARN carries no role path); a trailing * stands
    only for the 16 hex digits Identity Center appends to a permission set's role."""
    if ":role/" not in listed:
        return listed == principal
    account, _, role = listed.partition(":role/")
    name = role.rsplit("/", 1)[-1]
    caller_account, _, caller_role = principal.partition(":role/")
    if account != caller_account or not caller_role:
        return False
    if name.endswith("*"):
        # Identity Center's suffix is 16 hex digits: AWSReservedSSO_<permission set>_0a1b2c3d4e5f6789.
        return re.fullmatch(re.escape(name[:-1]) + r"[0-9a-f]{16}", caller_role) is not None
    return caller_role == name
