"""Signed one-click links: what a token claims, that nothing else verifies (altered, truncated,
another key, another spelling), expiry that still says what the link was for, and key rotation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notifier.links import (
    LINK_TTL, LinkClaim, LinkExpired, LinkInvalid, action_links, link_url, sign, verify,
)

KEY = b"k" * 32
OLD_KEY = b"o" * 32
T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
EXPIRES = T0 + timedelta(hours=24)


def token(*, key: bytes = KEY, incident_id: int = 12, person: str = "alice", action: str = "ack",
          expires_at: datetime = EXPIRES) -> str:
    return sign(key, incident_id=incident_id, person=person, action=action, expires_at=expires_at)


def raw(t: str) -> bytes:
    return base64.urlsafe_b64decode(t + "=" * (-len(t) % 4))


def encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.parametrize("action", ["ack", "resolve"])
def test_a_token_claims_incident_person_action_and_expiry(action):
    claim = verify(KEY, token(action=action), now=T0)
    assert claim == LinkClaim(incident_id=12, person="alice", action=action, expires_at=EXPIRES)


def test_a_token_is_url_safe_and_compact():
    t = token()
    assert set(t) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert len(t) == 52  # 23 bytes of claim for "alice" + 16 of MAC, base64 without padding


def test_a_token_holds_no_secret_only_the_ids_it_claims():
    data = raw(token())
    assert data[0] == 1  # the version byte: the layout can change and old links still be read
    assert b"alice" in data and KEY not in data


@given(person=st.text(min_size=1, max_size=200), incident_id=st.integers(1, 2**63 - 1),
       expires_s=st.integers(1, 253402300799), action=st.sampled_from(["ack", "resolve"]))
def test_any_person_and_incident_round_trip(person, incident_id, expires_s, action):
    expires_at = datetime.fromtimestamp(expires_s, UTC)
    claim = verify(KEY, token(person=person, incident_id=incident_id, action=action, expires_at=expires_at),
                   now=expires_at - timedelta(seconds=1))
    assert (claim.person, claim.incident_id, claim.action, claim.expires_at) == (person, incident_id, action, expires_at)


def test_every_altered_byte_makes_the_link_invalid():
    data = bytearray(raw(token()))
    for i in range(len(data)):
        for flip in (0x01, 0x80):
            altered = bytearray(data)
            altered[i] ^= flip
            with pytest.raises(LinkInvalid):
                verify(KEY, encode(bytes(altered)), now=T0)


def test_an_ack_link_cannot_be_turned_into_a_resolve_link_or_another_incident_or_person():
    data = raw(token(action="ack", incident_id=12, person="alice"))
    as_resolve = data[:1] + b"\x02" + data[2:]
    other_incident = data[:2] + struct.pack(">q", 13) + data[10:]
    other_person = data[:18] + b"mallory"[:5] + data[23:]
    for forged in (as_resolve, other_incident, other_person):
        with pytest.raises(LinkInvalid, match="signature"):
            verify(KEY, encode(forged), now=T0)


@pytest.mark.parametrize(
    "bad",
    ["", "!!!!", "a", "AQEA", "AQEAAAAAAAAADAAA", "x" * 3000, " " + "A" * 60],
)
def test_a_malformed_or_truncated_token_is_invalid(bad):
    with pytest.raises(LinkInvalid):
        verify(KEY, bad, now=T0)


def test_truncating_or_extending_a_good_token_makes_it_invalid():
    t = token()
    for variant in (t[:-1], t[:-4], t + "A", t + "AAAA", t + "=", t + "==", t + ".", t[1:]):
        with pytest.raises(LinkInvalid):
            verify(KEY, variant, now=T0)


def test_another_spelling_of_the_same_bytes_is_not_accepted():
    t = token(person="bob")  # 37 bytes: the last character carries 4 spare bits
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(t[-1])
    variant = t[:-1] + alphabet[last ^ 1]
    assert raw(variant) == raw(t)  # base64 would read both the same
    with pytest.raises(LinkInvalid, match="well-formed"):
        verify(KEY, variant, now=T0)


def test_a_token_signed_with_another_key_is_invalid():
    with pytest.raises(LinkInvalid, match="signature does not match"):
        verify(KEY, token(key=b"x" * 32), now=T0)


def test_an_unknown_version_is_invalid_even_with_a_good_mac():
    data = b"\x02" + raw(token())[1:-16]
    mac = hmac.new(KEY, b"vigil-link\x00" + data, hashlib.sha256).digest()[:16]
    with pytest.raises(LinkInvalid, match="version 2"):
        verify(KEY, encode(data + mac), now=T0)


def test_the_mac_is_hmac_sha256_over_the_claim_with_a_context_label():
    data = raw(token())
    expected = hmac.new(KEY, b"vigil-link\x00" + data[:-16], hashlib.sha256).digest()[:16]
    assert data[-16:] == expected


def test_rotation_the_first_key_signs_and_every_key_verifies():
    old = token(key=OLD_KEY)
    assert verify([KEY, OLD_KEY], old, now=T0).person == "alice"
    assert verify([KEY, OLD_KEY], token(key=KEY), now=T0).person == "alice"
    with pytest.raises(LinkInvalid):
        verify([KEY], old, now=T0)  # the old key retired: its links stop working


def test_verifying_needs_a_key():
    with pytest.raises(ValueError, match="no key"):
        verify([], token(), now=T0)


def test_an_expired_link_says_what_it_was_for():
    t = token(action="resolve")
    assert verify(KEY, t, now=EXPIRES - timedelta(seconds=1)).action == "resolve"
    with pytest.raises(LinkExpired) as expired:
        verify(KEY, t, now=EXPIRES)
    assert expired.value.claim == LinkClaim(incident_id=12, person="alice", action="resolve", expires_at=EXPIRES)
    assert "expired" in str(expired.value)


def test_an_altered_expired_link_is_invalid_not_expired():
    data = bytearray(raw(token(expires_at=T0 - timedelta(hours=1))))
    data[-1] ^= 1
    with pytest.raises(LinkInvalid):
        verify(KEY, encode(bytes(data)), now=T0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"key": b"short"}, "at least 16 bytes"),
        ({"action": "delete"}, "ack or resolve"),
        ({"incident_id": 0}, "out of range"),
        ({"incident_id": 2**63}, "out of range"),
        ({"person": ""}, "needs a person"),
        ({"expires_at": datetime(2026, 11, 27, 10)}, "timezone-aware"),
    ],
)
def test_signing_refuses_what_cannot_be_a_good_link(kwargs, message):
    with pytest.raises(ValueError, match=message):
        token(**kwargs)


def test_action_links_give_both_tokens_and_their_urls_valid_for_the_ttl():
    links = action_links(KEY, public_url="https://vigil.example.com/", incident_id=12, person="alice",
                         now=T0 + timedelta(microseconds=500))
    assert links.expires_at == T0 + LINK_TTL  # whole seconds: what a token can carry
    assert links.ack_url == f"https://vigil.example.com/ack/{links.ack_token}"
    assert links.resolve_url == link_url("https://vigil.example.com", links.resolve_token)
    assert verify(KEY, links.ack_token, now=T0).action == "ack"
    assert verify(KEY, links.resolve_token, now=T0).action == "resolve"
    with pytest.raises(LinkExpired):
        verify(KEY, links.ack_token, now=T0 + LINK_TTL)


def test_action_links_with_a_shorter_ttl():
    links = action_links(KEY, public_url="https://v", incident_id=1, person="bob", now=T0, ttl=timedelta(minutes=5))
    assert verify(KEY, links.ack_token, now=T0).expires_at == T0 + timedelta(minutes=5)
