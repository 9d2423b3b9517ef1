"""Errors raised on purpose by the pure core; `ReputationError` is the single root."""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "ConfigError",
    "DeadLetterReason",
    "InvalidEventError",
    "ReputationError",
    "UnknownRecordVersionError",
]


class ReputationError(Exception):
    """Root of every error Vigil raises on purpose."""


class ConfigError(ReputationError, ValueError):
    """A hyperparameter or setting is out of range.

    Operators: fix the named setting (environment variable or config file); the
    message names the value and what was expected.
    """


class DeadLetterReason(StrEnum):
    """Why an input message was rejected; each goes with the message to the dead-letter topic."""

    BAD_JSON = "BAD_JSON"
    NOT_AN_OBJECT = "NOT_AN_OBJECT"
    TOO_LARGE = "TOO_LARGE"
    MISSING_FIELD = "MISSING_FIELD"
    WRONG_TYPE = "WRONG_TYPE"
    OUT_OF_RANGE = "OUT_OF_RANGE"
    BAD_ID = "BAD_ID"
    BAD_ADDRESS = "BAD_ADDRESS"
    BAD_CHECKSUM = "BAD_CHECKSUM"
    BAD_TIME = "BAD_TIME"
    FUTURE_TIME = "FUTURE_TIME"
    BAD_MONEY = "BAD_MONEY"
    BAD_HASH = "BAD_HASH"
    UNKNOWN_TOPIC = "UNKNOWN_TOPIC"
    #: An identity value that cannot be normalised (not a phone number, an email, ...).
    BAD_IDENTITY_VALUE = "BAD_IDENTITY_VALUE"
    #: A raw identity value arrived but no ``VIGIL_IDENTITY_KEYS`` is configured to hash it.
    NO_IDENTITY_KEY = "NO_IDENTITY_KEY"
    #: Valid, but older than the worker's id window's horizon: it cannot be checked
    #: for a duplicate, so it is not applied (the error names the horizon).
    TOO_LATE = "TOO_LATE"
    #: Decoding failed in a way no other reason names (a bug's symptom: the error says which).
    UNDECODABLE = "UNDECODABLE"


class InvalidEventError(ReputationError, ValueError):
    """An input message failed validation; it goes to the dead-letter topic.

    Parameters
    ----------
    reason
        The machine-readable `DeadLetterReason`.
    detail
        ``"<field>: <what was wrong>"``, naming the value and what was expected.
    """

    def __init__(self, reason: DeadLetterReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class UnknownRecordVersionError(ReputationError):
    """A stored record has a version this build cannot read.

    Operators: a newer build wrote the table; run that build (decoders ship
    before encoders) or rebuild the state with ``vigil replay``.
    """
