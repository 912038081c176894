"""Environment profiles as deployed configuration: a Parameter Store parameter per environment, a version per push.

A profile is stored as the team wrote it (no defaults filled in), and its people directory apart, in parts of
their own named by their content's digest (`<profile>/people/<digest>-<n>`): a team of a hundred people does
not fit one parameter (8,192 characters at most, in the advanced tier), and a part, once written, never
changes, so every version of the profile still names the people it was pushed with. A push past the limits is
refused before anything is written, with the size and the limit."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from chalicelib.domain.profiles import EnvironmentProfile, ProfileError, UnknownEnvironment, parse_profile
from chalicelib.platform import aws, runtime
from chalicelib.platform.log import logger

DEFAULT_PATH = "/launch-controller/profiles"
# How long a container reuses a profile it read (Powertools' cache). Decisions read afresh: starting a
# launch, a rollback or an abort, an approval, so a push is in force for them at once.
DEFAULT_MAX_AGE_SECONDS = 30
# A profile may outgrow the standard tier's 4 KB; Intelligent-Tiering moves that one parameter to the advanced
# tier (8 KB, for good) and keeps the small ones free. The people's parts stay standard.
TIER = "Intelligent-Tiering"
PROFILE_CHARACTERS = 8192  # Parameter Store's largest value (the advanced tier)
PART_CHARACTERS = 4096  # a standard parameter's, which each part of the people directory is
PEOPLE_PARTS = "people_parts"  # where a stored profile names the parts of its people directory


class ProfileTooLarge(ProfileError):
    """A profile Parameter Store cannot hold: says how large it is and what the limit is."""


class StoredProfile(BaseModel):
    """One version of an environment's stored profile: what it says, and when and by whom it was pushed."""

    environment: str
    version: int = Field(description="Parameter Store's version of the parameter: every push is the next")
    pushed_at: datetime
    pushed_by: str | None = Field(default=None, description="the IAM identity Parameter Store recorded")
    profile: EnvironmentProfile


def profiles_path() -> str:
    """The parameter path this deployment's profiles live under (`LAUNCH_PROFILES_PATH`, set by the template)."""
    return (runtime.environ().get("LAUNCH_PROFILES_PATH") or DEFAULT_PATH).rstrip("/")


def parameter_name(environment: str, path: str | None = None) -> str:
    return f"{path or profiles_path()}/{environment}"


def _stored(ssm: Any, environment: str, parameter: dict[str, Any], pushed_by: str | None = None) -> StoredProfile:
    origin = f"{parameter['Name']} version {parameter['Version']}"
    profile = parse_profile(_with_people(ssm, parameter["Value"], origin), origin)
    if profile.name != environment:
        raise ProfileError(f"{origin}: name: {profile.name!r} must be {environment!r}, the parameter's name")
    return StoredProfile(
        environment=environment,
        version=parameter["Version"],
        pushed_at=parameter["LastModifiedDate"],
        pushed_by=pushed_by,
        profile=profile,
    )


def stored_form(profile: EnvironmentProfile, path: str | None = None) -> tuple[str, dict[str, str]]:
    """What a push writes: the profile's parameter value (as the team wrote it: defaults left out, the people
    directory named by its parts) and each part of the people directory by parameter name. ProfileTooLarge
    when Parameter Store cannot hold it."""
    data = profile.model_dump(mode="json", exclude_defaults=True)
    people = data.get("people", {}).pop("people", None)
    parts: dict[str, str] = {}
    if people:
        text = json.dumps(people, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        chunks: list[dict[str, Any]] = [{}]
        for email, person in sorted(people.items()):
            alone = len(json.dumps({email: person}, separators=(",", ":")))
            if alone > PART_CHARACTERS:
                raise ProfileTooLarge(
                    f"{profile.name}: people.{email} is {alone:,} characters stored; a part of the people directory "
                    f"holds at most {PART_CHARACTERS:,}"
                )
            if len(json.dumps({**chunks[-1], email: person}, separators=(",", ":"))) > PART_CHARACTERS:
                chunks.append({})
            chunks[-1][email] = person
        base = f"{parameter_name(profile.name, path)}/people/{digest}"
        parts = {f"{base}-{n}": json.dumps(chunk, separators=(",", ":")) for n, chunk in enumerate(chunks, 1)}
        data[PEOPLE_PARTS] = {"digest": digest, "names": list(parts)}
    value = json.dumps(data, separators=(",", ":"))
    if len(value) > PROFILE_CHARACTERS:
        raise ProfileTooLarge(
            f"{profile.name}: the profile is {len(value):,} characters stored (people apart); Parameter Store holds "
            f"at most {PROFILE_CHARACTERS:,} in one parameter (the advanced tier): fewer approvers, checks or "
            "metrics, or shorter texts"
        )
    return value, parts


@runtime.kept
def _people_parts() -> dict[str, dict[str, Any]]:
    """The people directories this container read, by digest: a part never changes once written."""
    return {}


def _with_people(ssm: Any, value: str, origin: str) -> str:
    """A stored profile's text with its people directory read back from its parts (a profile stored before
    the parts, people and all, is read as it is)."""
    try:
        data = json.loads(value)
    except ValueError:
        return value  # parse_profile says what is wrong with it
    named = data.pop(PEOPLE_PARTS, None) if isinstance(data, dict) else None
    if not named:
        return value
    kept = _people_parts()
    people = kept.get(named["digest"])
    if people is None:
        people = {}
        names = list(named["names"])
        for start in range(0, len(names), 10):  # GetParameters takes ten names a call
            answer = ssm.get_parameters(Names=names[start : start + 10])
            if answer.get("InvalidParameters"):
                raise ProfileError(
                    f"{origin}: the parts of its people directory are gone: {answer['InvalidParameters']}"
                )
            for parameter in answer["Parameters"]:
                people |= json.loads(parameter["Value"])
        text = json.dumps(people, sort_keys=True, separators=(",", ":"))
        if hashlib.sha256(text.encode()).hexdigest()[:16] != named["digest"]:
            raise ProfileError(f"{origin}: its people directory's parts do not match their digest {named['digest']}")
        kept[named["digest"]] = people
    data.setdefault("people", {})["people"] = people
    return json.dumps(data)


# -- reading, in the functions ---------------------------------------------------------------------


@runtime.kept
def _kept_provider() -> Any:
    """The container's Powertools provider: it keeps what it read for max_age seconds."""
    from aws_lambda_powertools.utilities.parameters import BaseProvider  # loads boto3: only on first read

    class ProfileParameters(BaseProvider):
        """Parameter Store reads that keep the version with the value (a launch records which it follows)."""

        def __init__(self, ssm: Any) -> None:
            super().__init__(client=ssm)  # type: ignore[no-untyped-call]
            self._ssm = ssm

        def _get(self, name: str, **_: Any) -> dict[str, Any]:
            return dict(self._ssm.get_parameter(Name=name)["Parameter"])

        def _get_multiple(self, path: str, **_: Any) -> dict[str, Any]:
            found: dict[str, Any] = {}
            for page in self._ssm.get_paginator("get_parameters_by_path").paginate(Path=path):
                for parameter in page["Parameters"]:
                    found[parameter["Name"].rsplit("/", 1)[-1]] = dict(parameter)
            return found

    return ProfileParameters(aws.client("ssm"))


def _max_age() -> int:
    return int(runtime.environ().get("LAUNCH_PROFILE_MAX_AGE_SECONDS") or DEFAULT_MAX_AGE_SECONDS)


def current_profile(environment: str, *, fresh: bool = False) -> StoredProfile:
    """The environment's profile as stored now; UnknownEnvironment when none is."""
    from aws_lambda_powertools.utilities.parameters import GetParameterError  # loads boto3: only on a read

    try:
        parameter = _kept_provider().get(parameter_name(environment), max_age=_max_age(), force_fetch=fresh)
    except GetParameterError as exc:
        if _code(exc.__context__) == "ParameterNotFound":
            raise UnknownEnvironment(
                f"no profile for environment {environment!r}; known: {', '.join(sorted(stored_profiles()))}"
            ) from exc
        raise
    return _stored(aws.client("ssm"), environment, parameter)


def forget_kept_profiles() -> None:
    """What the cache's max age does in time: the next read in this container asks Parameter Store afresh."""
    _kept_provider.cache_clear()


def stored_profiles(*, fresh: bool = False) -> dict[str, StoredProfile]:
    """Every environment's valid profile as stored now, by environment. An environment whose newest version
    is not a valid profile is left out (and logged, naming the version): it does not stop the others, and
    its own requests answer profile_invalid (`current_profile`)."""
    found = _kept_provider().get_multiple(profiles_path(), max_age=_max_age(), force_fetch=fresh)
    ssm = aws.client("ssm")
    valid = {}
    for environment, parameter in found.items():
        try:
            valid[environment] = _stored(ssm, environment, parameter)
        except ProfileError as exc:
            logger.warning("a stored profile is not valid", extra={"environment": environment, "problem": str(exc)})
    return valid


def _code(exc: BaseException | None) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


# -- pushing and history, from the CLI and the local stack -----------------------------------------


def push_profile(ssm: Any, profile: EnvironmentProfile, path: str | None = None) -> StoredProfile:
    """Store `profile` as its environment's next version and read that version back (who pushed it is what
    Parameter Store records), whatever earlier versions hold."""
    version = put_profile(ssm, profile, path)
    return stored_version(ssm, profile.name, version, path)


def put_profile(ssm: Any, profile: EnvironmentProfile, path: str | None = None) -> int:
    """Store `profile` as its environment's next version, and say which version that is: its people's parts
    first (each written once: its name is its content's), then the profile that names them."""
    value, parts = stored_form(profile, path)
    for part, text in parts.items():
        try:
            ssm.put_parameter(Name=part, Value=text, Type="String", Tier="Standard", Overwrite=False)
        except Exception as exc:
            if _code(exc) != "ParameterAlreadyExists":
                raise
    name = parameter_name(profile.name, path)
    answer = ssm.put_parameter(
        Name=name,
        Value=value,
        Type="String",
        Overwrite=True,
        Tier=TIER,
        Description=f"launch controller profile of {profile.name} ({profile.digest})",
    )
    return int(answer["Version"])


class ProfileVersion(BaseModel):
    """One version in a profile's history: what it stores, or why it is not a profile (edited by hand, cut
    short, another environment's), which the history shows rather than fails on."""

    environment: str
    version: int
    pushed_at: datetime
    pushed_by: str | None = None
    stored: StoredProfile | None = None
    problem: str | None = None


def _raw_history(ssm: Any, environment: str, path: str | None) -> list[dict[str, Any]]:
    """Every version Parameter Store still keeps (its last 100), oldest first, as it answers them."""
    name = parameter_name(environment, path)
    found: list[dict[str, Any]] = []
    try:
        for page in ssm.get_paginator("get_parameter_history").paginate(Name=name):
            found += page["Parameters"]
    except Exception as exc:
        if _code(exc) == "ParameterNotFound":
            raise UnknownEnvironment(f"no profile stored for environment {environment!r} at {name}") from exc
        raise
    if not found:
        raise UnknownEnvironment(f"no profile stored for environment {environment!r} at {name}")
    return sorted(found, key=lambda parameter: int(parameter["Version"]))


def history(ssm: Any, environment: str, path: str | None = None) -> list[ProfileVersion]:
    """Every version Parameter Store still keeps, oldest first; a version that is not a valid profile is in
    the list as such (its problem), not a failure of the whole history."""
    versions = []
    for parameter in _raw_history(ssm, environment, path):
        stored, problem = None, None
        try:
            stored = _stored(ssm, environment, parameter, parameter.get("LastModifiedUser"))
        except ProfileError as exc:
            problem = str(exc)
        versions.append(
            ProfileVersion(
                environment=environment,
                version=parameter["Version"],
                pushed_at=parameter["LastModifiedDate"],
                pushed_by=parameter.get("LastModifiedUser"),
                stored=stored,
                problem=problem,
            )
        )
    return versions


def stored_version(ssm: Any, environment: str, version: int | None = None, path: str | None = None) -> StoredProfile:
    """One version of the environment's profile (the newest when `version` is None); ProfileError naming
    the version when it is not a valid profile. Only that version is read as a profile."""
    raw = _raw_history(ssm, environment, path)
    chosen = raw[-1] if version is None else next((p for p in raw if int(p["Version"]) == version), None)
    if chosen is None:
        kept = f"{raw[0]['Version']}-{raw[-1]['Version']}"
        raise UnknownEnvironment(f"{environment} has no profile version {version} (Parameter Store keeps {kept})")
    return _stored(ssm, environment, chosen, chosen.get("LastModifiedUser"))


def changes(before: EnvironmentProfile, after: EnvironmentProfile) -> list[dict[str, Any]]:
    """Each field that changes from `before` to `after`: its path as TOML writes it (a key with a dot quoted:
    `people.people."riley@acme.example".iam_users`), and its value before and after (absent: left out)."""
    found: list[dict[str, Any]] = []

    def walk(old: Any, new: Any, where: list[str]) -> None:
        if isinstance(old, dict) and isinstance(new, dict):
            for key in sorted(set(old) | set(new), key=str):
                walk(old.get(key, _ABSENT), new.get(key, _ABSENT), [*where, str(key)])
        elif old != new:
            change: dict[str, Any] = {"field": ".".join(_toml_key(part) for part in where)}
            change |= {"before": old} if old is not _ABSENT else {}
            change |= {"after": new} if new is not _ABSENT else {}
            found.append(change)

    walk(before.model_dump(mode="json"), after.model_dump(mode="json"), [])
    return found


def differences(before: EnvironmentProfile, after: EnvironmentProfile) -> list[str]:
    """What changes from `before` to `after`, one line per field: `path: old -> new`."""
    return [
        f"{change['field']}: {_shown(change.get('before', _ABSENT))} -> {_shown(change.get('after', _ABSENT))}"
        for change in changes(before, after)
    ]


def _toml_key(key: str) -> str:
    """A key as TOML writes it: bare when it can be, quoted otherwise."""
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


_ABSENT = object()


def _shown(value: Any) -> str:
    return "(absent)" if value is _ABSENT else json.dumps(value)


def approvers_of(profile: EnvironmentProfile) -> dict[str, list[str]]:
    return {role: sorted(email.lower() for email in emails) for role, emails in profile.approvals.approvers.items()}


def load_profile(environment: str, *, fresh: bool = False) -> EnvironmentProfile:
    """The environment's profile as stored now (read through the container's cache unless `fresh`)."""
    return current_profile(environment, fresh=fresh).profile


def known_environments() -> list[str]:
    return sorted(stored_profiles())


def load_profile_all() -> list[EnvironmentProfile]:
    return [stored.profile for _, stored in sorted(stored_profiles().items())]
