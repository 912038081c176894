"""CloudFront KeyValueStore's data plane (DescribeKeyValueStore, GetKey, ListKeys, PutKey, DeleteKey), which
moto lacks: the keys of each store moto's CloudFront holds, with AWS's ETags, conflicts and size quotas.

It answers in-process requests to `<account>.cloudfront-kvs.global.api.aws` (unit tests, inside moto's mock)
and requests to the local stack's moto server whose path starts `/key-value-stores/`. On the server each
request is judged by its caller's IAM policies as moto judges the others, by the key in its SigV4A
Authorization header; the SigV4A signature itself is not verified (docs/known-gaps.md)."""

from __future__ import annotations

import json
import re
import secrets
import threading
import urllib.parse
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

# AWS's quotas (CloudFront's developer guide, "Quotas": KeyValueStore).
KEY_BYTES = 512
VALUE_BYTES = 1024
STORE_BYTES = 5 * 1024 * 1024
_HOST = re.compile(r"^https://(?P<account>[0-9]{12})\.cloudfront-kvs\.global\.api\.aws(?::443)?/")
_PATH = re.compile(r"^/key-value-stores/(?P<arn>[^/]+)(?P<keys>/keys(?:/(?P<key>[^/]+))?)?/?$")
_lock = threading.Lock()

Answer = tuple[int, dict[str, str], bytes]


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


def _answer(status: int, body: dict[str, Any], etag: str | None = None) -> Answer:
    headers = {"Content-Type": "application/json"}
    if etag is not None:
        headers["ETag"] = etag
    return status, headers, json.dumps(body, default=str).encode()


def _refusal(refused: _Refused) -> Answer:
    status, headers, body = _answer(refused.status, {"Message": str(refused), "__type": refused.code})
    return status, {**headers, "x-amzn-ErrorType": refused.code}, body


def _store(arn: str) -> Any:
    from moto.cloudfront.models import cloudfront_backends

    account = arn.split(":")[4] if arn.count(":") >= 5 else ""
    if account in cloudfront_backends:
        stores: dict[str, Any] = cloudfront_backends[account]["aws"].key_value_stores
        for store in stores.values():
            if store.arn == arn:
                if not hasattr(store, "entries"):
                    store.entries, store.data_etag = {}, secrets.token_hex(8)
                return store
    raise _Refused(404, "ResourceNotFoundException", f"Key value store {arn} not found")


def _size(keys: dict[str, str]) -> int:
    return sum(len(key.encode()) + len(value.encode()) for key, value in keys.items())


def _summary(store: Any) -> dict[str, Any]:
    return {"ItemCount": len(store.entries), "TotalSizeInBytes": _size(store.entries)}


def _matching(store: Any, headers: dict[str, str]) -> None:
    """A write names the store's current ETag, as DescribeKeyValueStore gave it, or is refused."""
    asked = next((value for name, value in headers.items() if name.lower() == "if-match"), "")
    if asked != store.data_etag:
        raise _Refused(409, "ConflictException", "The provided If-Match value does not match the current ETag")


def answer(method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
    """One data-plane request, as AWS answers it."""
    match = _PATH.match(path.split("?", 1)[0])
    if match is None:
        return _refusal(_Refused(404, "ResourceNotFoundException", f"no such resource: {path}"))
    arn = urllib.parse.unquote(match["arn"])
    key = urllib.parse.unquote(match["key"]) if match["key"] else None
    try:
        with _lock:
            store = _store(arn)
            if not match["keys"] and method == "GET":
                described = {**_summary(store), "KvsARN": arn, "Created": store.last_modified_time, "Status": "READY"}
                return _answer(200, described, store.data_etag)
            if key is None and method == "GET":
                items = [{"Key": name, "Value": value} for name, value in sorted(store.entries.items())]
                return _answer(200, {"Items": items})
            if key is not None and method == "GET":
                if key not in store.entries:
                    raise _Refused(404, "ResourceNotFoundException", f"Key {key} not found")
                return _answer(200, {"Key": key, "Value": store.entries[key], **_summary(store)})
            if key is not None and method == "PUT":
                value = json.loads(body or b"{}").get("Value", "")
                if not 1 <= len(key.encode()) <= KEY_BYTES:
                    raise _Refused(400, "ValidationException", f"a key is 1 to {KEY_BYTES} bytes")
                if len(value.encode()) > VALUE_BYTES:
                    raise _Refused(400, "ValidationException", f"a value is at most {VALUE_BYTES} bytes")
                _matching(store, headers)
                if _size({**store.entries, key: value}) > STORE_BYTES:
                    raise _Refused(402, "ServiceQuotaExceededException", "the store would pass 5 MB")
                store.entries[key] = value
            elif key is not None and method == "DELETE":
                _matching(store, headers)
                if key not in store.entries:
                    raise _Refused(404, "ResourceNotFoundException", f"Key {key} not found")
                del store.entries[key]
            else:
                raise _Refused(405, "ValidationException", f"{method} {path}: not an operation of KeyValueStore")
            store.data_etag = secrets.token_hex(8)
            store.last_modified_time = datetime.now(UTC)
            return _answer(200, _summary(store), store.data_etag)
    except _Refused as refused:
        return _refusal(refused)


def value_of(arn: str, key: str) -> str | None:
    """What a store holds under `key` (the local CloudFront reading it, as the release router does)."""
    with _lock:
        try:
            return _store(arn).entries.get(key)  # type: ignore[no-any-return]
        except _Refused:
            return None


def put(arn: str, key: str, value: str) -> None:
    """Write `key` into a store, as its owner would by hand (a test setting the release live before)."""
    with _lock:
        store = _store(arn)
        store.entries[key] = value
        store.data_etag = secrets.token_hex(8)


def forget(arn: str, key: str) -> bool:
    """Remove `key` from a store, as its owner would by hand; whether it was there."""
    with _lock:
        try:
            store = _store(arn)
        except _Refused:
            return False
        if store.entries.pop(key, None) is None:
            return False
        store.data_etag = secrets.token_hex(8)
        return True


def install() -> None:
    """Answer the data plane inside moto's mock and on its server; safe to call again."""
    from moto.core.botocore_stubber import BotocoreStubber
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    if getattr(BotocoreStubber, "_launchctl_key_value_stores", False):
        return
    original_process = BotocoreStubber.process_request

    def process_request(self: Any, request: Any) -> Any:
        found = _HOST.match(request.url)
        if found is None:
            return original_process(self, request)
        body = request.body.encode() if isinstance(request.body, str) else (request.body or b"")
        headers = {
            name: value.decode() if isinstance(value, bytes) else value for name, value in request.headers.items()
        }
        return answer(request.method, request.url[found.end() - 1 :], headers, body)

    BotocoreStubber.process_request = process_request  # type: ignore[method-assign]
    original_call = DomainDispatcherApplication.__call__

    def dispatch(self: Any, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.startswith("/key-value-stores/"):
            return original_call(self, environ, start_response)  # type: ignore[no-any-return]
        headers = {name[5:].replace("_", "-").title(): value for name, value in environ.items() if name[:5] == "HTTP_"}
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        raw_path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or urllib.parse.quote(path)
        refused = _refused_by_iam(environ["REQUEST_METHOD"], raw_path, headers, body)
        status, answer_headers, answered = refused or answer(environ["REQUEST_METHOD"], raw_path, headers, body)
        start_response(f"{status} {_REASONS.get(status, 'Error')}", list(answer_headers.items()))
        return [answered]

    DomainDispatcherApplication.__call__ = dispatch  # type: ignore[method-assign]
    BotocoreStubber._launchctl_key_value_stores = True  # type: ignore[attr-defined]


_REASONS = {200: "OK", 400: "Bad Request", 402: "Payment Required", 403: "Forbidden", 404: "Not Found"}
_ACTIONS = {"GET": "GetKey", "PUT": "PutKey", "DELETE": "DeleteKey"}


def _refused_by_iam(method: str, path: str, headers: dict[str, str], body: bytes) -> Answer | None:
    """The caller's policies judge the action as moto judges every other request once the stack enforces
    IAM. SigV4A's credential scope names no region, which moto's request reads: one is put in for it."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.iam.access_control import AccessDeniedError, IAMRequest  # type: ignore[attr-defined]
    from moto.iam.models import get_account_id_from

    if ActionAuthenticatorMixin.request_count < settings.INITIAL_NO_AUTH_ACTION_COUNT:
        return None
    match = _PATH.match(path.split("?", 1)[0])
    if match is None:
        return None
    action = "DescribeKeyValueStore" if not match["keys"] else _ACTIONS.get(method, "ListKeys")
    if match["keys"] and not match["key"]:
        action = "ListKeys"
    authorization = headers.get("Authorization", "")
    access_key = re.search(r"Credential=([^/,]+)/", authorization)
    regional = re.sub(r"Credential=([^/]+)/([0-9]{8})/", r"Credential=\1/\2/us-east-1/", authorization, count=1)
    try:
        request = IAMRequest(
            account_id=get_account_id_from(access_key[1] if access_key else ""),
            method=method,
            path=path,
            data={},
            body=body,
            headers={**headers, "Authorization": regional},
            action=action,
        )
        request.check_action_permitted("*")
    except AccessDeniedError as refused:
        return _refusal(_Refused(403, "AccessDeniedException", refused.message))
    return None
