"""What a sender reports about one attempt; the dispatcher decides from it (policy.next_attempt)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Outcome = Literal["accepted", "transient", "permanent"]


@dataclass(frozen=True, slots=True)
class SendResult:
    """`accepted`: the peer took the message (SMTP 2xx, HTTP 2xx). `transient`: try again later
    (connection refused, timeout, 5xx, 408, 429, SMTP 4xx); `retry_after_s` when the peer said how
    long. `permanent`: it will never work (SMTP 5xx, HTTP 4xx other than 408/429, a bad address).
    `answer` is what the peer said, for the delivery row and the timeline ("250 2.0.0 Ok: queued",
    "HTTP 204"); `error` why it failed."""

    outcome: Outcome
    answer: str | None = None
    error: str | None = None
    retry_after_s: float | None = None

    @classmethod
    def accepted(cls, answer: str) -> SendResult:
        return cls("accepted", answer=answer)

    @classmethod
    def transient(cls, error: str, *, answer: str | None = None, retry_after_s: float | None = None) -> SendResult:
        return cls("transient", answer=answer, error=error, retry_after_s=retry_after_s)

    @classmethod
    def permanent(cls, error: str, *, answer: str | None = None) -> SendResult:
        return cls("permanent", answer=answer, error=error)
