"""The function's container: the environment Lambda gives it, and what it keeps for the container's life.

On AWS each function runs in its own containers, so the process is the container: its environment is
`os.environ` and whatever it caches is its own. The local stack runs every function in one process; it
hands each function its own `Runtime` (its template's environment, its role's credentials) so that one
function's settings, clients and cached secrets never serve another, as they could not on AWS."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Generic, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class Runtime:
    """One function's container: its environment variables and what it keeps between invocations."""

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        name: str = "",
        prepare_session: Callable[..., None] | None = None,
    ) -> None:
        self._environ = environ
        self.name = name
        # What the container does to each boto3 session it makes, given the role the session acts as when
        # it is not the function's own (the local stack counts and faults calls).
        self.prepare_session = prepare_session or (lambda _session, _role=None: None)
        self._kept: dict[Hashable, Any] = {}
        self._making: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    @property
    def environ(self) -> Mapping[str, str]:
        """The container's variables; without its own, the process's as they are now (os.environ is
        replaced, not only changed, by some tools: Chalice's test client swaps in a copy per request)."""
        return os.environ if self._environ is None else self._environ

    def keep(self, key: Hashable, make: Callable[[], T]) -> T:
        """The value kept under `key`, made once per container: two threads asking at once make it once,
        and different keys are made at the same time."""
        with self._lock:
            if key in self._kept:
                return self._kept[key]  # type: ignore[no-any-return]
            making = self._making.setdefault(key, threading.Lock())
        with making:
            with self._lock:
                if key in self._kept:
                    return self._kept[key]  # type: ignore[no-any-return]
            value = make()
            with self._lock:
                self._kept[key] = value
            return value

    def forget(self, owner: str) -> None:
        """Drop what `owner` kept (a test changing the environment between runs)."""
        with self._lock:
            for key in [key for key in self._kept if isinstance(key, tuple) and key[:1] == (owner,)]:
                del self._kept[key]
                self._making.pop(key, None)


PROCESS = Runtime(name="process")
_current: ContextVar[Runtime] = ContextVar("runtime", default=PROCESS)


def current() -> Runtime:
    return _current.get()


def environ() -> Mapping[str, str]:
    """The running function's environment variables."""
    return _current.get().environ


@contextmanager
def running(runtime: Runtime) -> Iterator[Runtime]:
    """Run the block as the function whose container `runtime` is."""
    token = _current.set(runtime)
    try:
        yield runtime
    finally:
        _current.reset(token)


class Kept(Generic[P, T]):
    """A function whose values are kept per container, like functools.cache per process on AWS."""

    def __init__(self, function: Callable[P, T]) -> None:
        functools.update_wrapper(self, function)
        self._function = function
        self._owner = f"{function.__module__}.{function.__qualname__}"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> T:
        key = (self._owner, args, tuple(sorted(kwargs.items())))
        return _current.get().keep(key, lambda: self._function(*args, **kwargs))

    def cache_clear(self) -> None:
        """Forget the values kept in the running container."""
        _current.get().forget(self._owner)


def kept(function: Callable[P, T]) -> Kept[P, T]:
    return Kept(function)
