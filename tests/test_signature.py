"""Webhook signature verification, including GitHub's published test vector."""

from __future__ import annotations

import pytest

from app.signature import SignatureError, sign, verify_signature

# https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
VECTOR_SECRET = "It's a Secret to Everybody"
VECTOR_BODY = b"Hello, World!"
VECTOR_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_githubs_published_test_vector_is_accepted() -> None:
    verify_signature(VECTOR_SECRET, VECTOR_BODY, VECTOR_SIGNATURE)
    assert sign(VECTOR_SECRET, VECTOR_BODY) == VECTOR_SIGNATURE


def test_upper_case_hex_and_surrounding_spaces_are_still_the_same_signature() -> None:
    verify_signature(VECTOR_SECRET, VECTOR_BODY, "  " + VECTOR_SIGNATURE.upper().replace("SHA256=", "sha256="))


@pytest.mark.parametrize("header", [None, ""])
def test_a_missing_signature_is_rejected_as_missing(header: str | None) -> None:
    with pytest.raises(SignatureError) as error:
        verify_signature(VECTOR_SECRET, VECTOR_BODY, header)
    assert error.value.reason == "missing X-Hub-Signature-256 header"


@pytest.mark.parametrize(
    "header",
    [
        "sha1=0123456789abcdef0123456789abcdef01234567",  # the legacy X-Hub-Signature format
        VECTOR_SIGNATURE[:-2],  # truncated
        "sha256=" + "z" * 64,  # not hex
        VECTOR_SIGNATURE.removeprefix("sha256="),  # no algorithm prefix
    ],
)
def test_a_malformed_signature_is_rejected_as_malformed(header: str) -> None:
    with pytest.raises(SignatureError) as error:
        verify_signature(VECTOR_SECRET, VECTOR_BODY, header)
    assert error.value.reason == "malformed X-Hub-Signature-256 header"


def test_a_changed_body_no_longer_matches() -> None:
    with pytest.raises(SignatureError) as error:
        verify_signature(VECTOR_SECRET, b"Hello, World?", VECTOR_SIGNATURE)
    assert error.value.reason == "signature does not match the payload"


def test_another_secret_does_not_match() -> None:
    with pytest.raises(SignatureError) as error:
        verify_signature("another secret", VECTOR_BODY, VECTOR_SIGNATURE)
    assert error.value.reason == "signature does not match the payload"
