"""Offline presentation over QR codes: one-way (shop counter) and challenge-response (stronger)."""

from didlib.presentation.qrflows import (
    Challenge,
    ChallengeResponse,
    OneWay,
    PendingChallenge,
    RequestPayload,
    answer_challenge,
    make_oneway,
    parse_payload,
    read_challenge,
)

__all__ = [
    "Challenge",
    "ChallengeResponse",
    "OneWay",
    "PendingChallenge",
    "RequestPayload",
    "answer_challenge",
    "make_oneway",
    "parse_payload",
    "read_challenge",
]
