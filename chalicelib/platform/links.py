"""Signed links: an approval link (one approval, one approver, an expiry), the approval form's CSRF token, and
a read-only view link (one launch, or one environment's list, and an expiry)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.platform.runtime import kept
from chalicelib.platform.settings import Settings


class ForgedLink(Exception):
    """The link's token is not one this controller signed for this approval (403)."""


class ExpiredLink(Exception):
    """The link was genuine but its approval request has closed by time (410)."""


@dataclass(frozen=True)
class LinkHolder:
    approval_id: str
    approver: str
    expires: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_EXPIRY = re.compile(r"[1-9][0-9]{0,11}")


def _unb64(text: str) -> bytes:
    """Canonical unpadded base64url only: the one spelling `_b64` writes (no junk a decoder would skip,
    no padding, no stray bits), so a token has exactly one accepted form."""
    if not _BASE64URL.fullmatch(text):
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:
        raise ValueError("not canonical base64url")
    return data


def _mac(key: bytes, *parts: str) -> bytes:
    return hmac.new(key, "\x1f".join(parts).encode(), hashlib.sha256).digest()


def sign(key: bytes, approval_id: str, approver: str, expires: int) -> str:
    """`<approver, base64url>.<expiry epoch>.<HMAC-SHA256 of approval id, approver and expiry>`."""
    approver = approver.lower()
    signature = _mac(key, "approval-link", approval_id, approver, str(expires))
    return f"{_b64(approver.encode())}.{expires}.{_b64(signature)}"


def verify(key: bytes, approval_id: str, token: str, now: float | None = None) -> LinkHolder:
    """Who holds this link; ForgedLink unless it was signed for this approval, ExpiredLink once past its expiry."""
    try:
        encoded_approver, expires_text, encoded_signature = token.split(".")
        approver = _unb64(encoded_approver).decode()
        if not _EXPIRY.fullmatch(expires_text):
            raise ValueError("the expiry is not a plain integer")
        expires = int(expires_text)
        signature = _unb64(encoded_signature)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ForgedLink("the link is malformed") from exc
    expected = _mac(key, "approval-link", approval_id, approver, str(expires))
    if not hmac.compare_digest(signature, expected):
        raise ForgedLink("the link's signature does not match")
    if (now if now is not None else time.time()) >= expires:
        raise ExpiredLink(f"the link expired at {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(expires))}")
    return LinkHolder(approval_id=approval_id, approver=approver, expires=expires)


# How long a view link opens its page: a launch's page is read during the launch and in its review after.
VIEW_LINK_SECONDS = 7 * 86400


def sign_view(key: bytes, subject: str, expires: int) -> str:
    """`<expiry epoch>.<HMAC-SHA256 of the subject and expiry>`; the subject is `launch:<id>` or
    `environment:<name>`. Its own purpose in the MAC: an approval link's signature never opens a view."""
    return f"{expires}.{_b64(_mac(key, 'launch-view', subject, str(expires)))}"


def verify_view(key: bytes, subject: str, token: str, now: float | None = None) -> int:
    """The link's expiry; ForgedLink unless signed for this subject, ExpiredLink once past its expiry."""
    try:
        expires_text, encoded_signature = token.split(".")
        if not _EXPIRY.fullmatch(expires_text):
            raise ValueError("the expiry is not a plain integer")
        signature = _unb64(encoded_signature)
    except ValueError as exc:
        raise ForgedLink("the link is malformed") from exc
    if not hmac.compare_digest(signature, _mac(key, "launch-view", subject, expires_text)):
        raise ForgedLink("the link's signature does not match")
    expires = int(expires_text)
    if (now if now is not None else time.time()) >= expires:
        raise ExpiredLink(f"the link expired at {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(expires))}")
    return expires


def view_link(key: bytes, base_url: str, launch_id: str, expires: int | None = None) -> str:
    """The launch page's link under `base_url` (the API as its callers reach it)."""
    expires = expires or int(time.time()) + VIEW_LINK_SECONDS
    return f"{base_url}/view/launches/{launch_id}?token={sign_view(key, f'launch:{launch_id}', expires)}"


def list_link(key: bytes, base_url: str, environment: str, expires: int | None = None) -> str:
    """The environment's list page's link under `base_url`."""
    expires = expires or int(time.time()) + VIEW_LINK_SECONDS
    return f"{base_url}/view/environments/{environment}?token={sign_view(key, f'environment:{environment}', expires)}"


def new_form_nonce() -> str:
    return secrets.token_urlsafe(18)


def form_token(key: bytes, approval_id: str, nonce: str) -> str:
    """The hidden field of the approval form, bound to the approval and to the nonce in the browser's cookie."""
    return _b64(_mac(key, "approval-form", approval_id, nonce))


def form_token_matches(key: bytes, approval_id: str, nonce: str | None, token: str | None) -> bool:
    if not nonce or not token:
        return False
    return hmac.compare_digest(form_token(key, approval_id, nonce), token)


@kept
def _cached_key(secret_id: str, client: Any) -> bytes:
    value = client.get_secret_value(SecretId=secret_id)
    raw = value.get("SecretBinary") or value["SecretString"].encode()
    if len(raw) < 32:
        raise ValueError(f"the approval link key in {secret_id} is shorter than 32 bytes")
    return bytes(raw)


def signing_key(secrets_client: Any, secret_id: str) -> bytes:
    """The HMAC key from Secrets Manager, read once per Lambda container."""
    return _cached_key(secret_id, secrets_client)


def launch_page_link(settings: Settings, client: Callable[[str], Any], launch_id: str) -> str:
    """The launch page's view link for a message, when the deployment says where its API is."""
    if not settings.public_api_url:
        return ""
    key = signing_key(client("secretsmanager"), settings.approval_key_secret_id)
    return view_link(key, settings.public_api_url, launch_id)
