"""What a check of the checklist is: its id, section, severity, the resource it names, and how it reads the
account (a Context of clients and reads shared between checks); CHECKS is every check, registered by @check."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from chalicelib.checks.release import GitHubApp
from chalicelib.domain.profiles import EnvironmentProfile, Severity

ClientFactory = Callable[[str], Any]
T = TypeVar("T")


class Missing(Exception):
    """The resource the profile names does not exist: a failure that says so."""


@dataclass
class Release:
    """What the application checks look at; a part not named skips its check."""

    frontend_artifact: str | None = None
    backend_image: str | None = None
    git_sha: str | None = None


@dataclass
class Context:
    """What a check reads from: clients, the profile, the release, and reads shared between checks."""

    client: ClientFactory
    profile: EnvironmentProfile
    release: Release | None = None
    notification_topic_arn: str = ""
    # The controller's GitHub App, read from the controller's secrets when a check needs it.
    github_app: Callable[[], GitHubApp] | None = None
    _memo: dict[str, _Pending] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def once(self, key: str, read: Callable[[], T]) -> T:
        """One read per run for what several checks look at (the VPC, the database, the distribution)."""
        with self._lock:
            if key not in self._memo:
                self._memo[key] = _Pending()
            pending = self._memo[key]
        return pending.get(read)


class _Pending:
    """A read done once even when several threads ask for it at the same time; errors are shared too."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = False
        self._value: Any = None
        self._error: BaseException | None = None

    def get(self, read: Callable[[], T]) -> T:
        with self._lock:
            if not self._done:
                try:
                    self._value = read()
                except Exception as exc:  # noqa: BLE001 - re-raised to every check that needs this read
                    self._error = exc
                self._done = True
        if self._error is not None:
            raise self._error
        value: T = self._value
        return value


Verdict = tuple[bool, dict[str, Any]]


@dataclass(frozen=True)
class Check:
    id: str
    section: str
    title: str
    resource: Callable[[EnvironmentProfile], str]
    read: Callable[[Context], Verdict]
    severity: Severity = "blocking"
    needs: str | None = None  # the part of the release the check reads
    applies: Callable[[EnvironmentProfile], bool] | None = None  # when the profile asks for the item at all
    after: tuple[str, ...] = ()  # checks that must pass first: when one does not, this one is skipped, naming it


CHECKS: list[Check] = []


def check(
    check_id: str,
    section: str,
    title: str,
    resource: Callable[[EnvironmentProfile], str],
    severity: Severity = "blocking",
    needs: str | None = None,
    applies: Callable[[EnvironmentProfile], bool] | None = None,
    after: tuple[str, ...] = (),
) -> Callable[[Callable[[Context], Verdict]], Callable[[Context], Verdict]]:
    def register(read: Callable[[Context], Verdict]) -> Callable[[Context], Verdict]:
        CHECKS.append(Check(check_id, section, title, resource, read, severity, needs, applies, after))
        return read

    return register
