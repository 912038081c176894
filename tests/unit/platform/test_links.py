"""Signed approval links: bound to the approval, the approver and the expiry; nothing else passes."""

from __future__ import annotations

import time

import pytest

from chalicelib.platform.links import (
    ExpiredLink,
    ForgedLink,
    _b64,
    form_token,
    form_token_matches,
    sign,
    verify,
)

KEY = b"0123456789abcdef0123456789abcdef"
APPROVAL = "a" * 32
LATER = int(time.time()) + 3600


def test_a_signed_link_names_its_approver() -> None:
    holder = verify(KEY, APPROVAL, sign(KEY, APPROVAL, "Tess.Lead@acme.example", LATER))
    assert (holder.approver, holder.expires) == ("tess.lead@acme.example", LATER)


@pytest.mark.parametrize("part", [0, 1, 2])
def test_any_altered_part_of_the_token_is_refused(part: int) -> None:
    pieces = sign(KEY, APPROVAL, "tess.lead@acme.example", LATER).split(".")
    pieces[part] = {0: _b64(b"mallory@evil.example"), 1: str(LATER + 86400), 2: pieces[2][:-2] + "AA"}[part]
    with pytest.raises(ForgedLink):
        verify(KEY, APPROVAL, ".".join(pieces))


def test_a_link_for_one_approval_does_not_open_another() -> None:
    token = sign(KEY, APPROVAL, "tess.lead@acme.example", LATER)
    with pytest.raises(ForgedLink):
        verify(KEY, "b" * 32, token)


def test_a_link_signed_with_another_key_is_refused() -> None:
    with pytest.raises(ForgedLink):
        verify(KEY, APPROVAL, sign(b"x" * 32, APPROVAL, "tess.lead@acme.example", LATER))


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "a.1.!!!", "..."])
def test_a_malformed_token_is_refused_not_crashed_on(token: str) -> None:
    with pytest.raises(ForgedLink):
        verify(KEY, APPROVAL, token)


def test_a_link_past_its_expiry_is_expired_not_forged() -> None:
    token = sign(KEY, APPROVAL, "tess.lead@acme.example", 1_000)
    with pytest.raises(ExpiredLink):
        verify(KEY, APPROVAL, token)
    assert verify(KEY, APPROVAL, token, now=999).approver == "tess.lead@acme.example"


def test_the_form_token_is_bound_to_the_approval_and_the_browsers_nonce() -> None:
    token = form_token(KEY, APPROVAL, "nonce-1")
    assert form_token_matches(KEY, APPROVAL, "nonce-1", token)
    assert not form_token_matches(KEY, APPROVAL, "nonce-2", token)
    assert not form_token_matches(KEY, "b" * 32, "nonce-1", token)
    assert not form_token_matches(KEY, APPROVAL, None, token)
    assert not form_token_matches(KEY, APPROVAL, "nonce-1", None)
