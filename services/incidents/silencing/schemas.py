"""Request and response models of the silence API (and the matchers a maintenance window's scope
shares with silences)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from services.incidents.silences import InvalidMatcher, Matcher, check_silence_matchers, matchers_text, parse_matcher
from shared.api_types import Instant


class MatcherIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="A label name, e.g. service")
    op: Literal["=", "!=", "=~", "!~"] = Field(default="=", description="=, !=, =~ (regex), !~ (regex)")
    value: str = Field(max_length=1000, description="The value, or a regular expression matched in full")


def _read_texts(value: object) -> object:
    """Matchers may be sent as text (`service=api`, `env!=prod`, `service=~"api|web"`): read into objects."""
    if not isinstance(value, list):
        return value
    out = []
    for item in value:
        if isinstance(item, str):
            try:
                item = parse_matcher(item).as_dict()
            except InvalidMatcher as exc:
                raise ValueError(str(exc)) from None
        out.append(item)
    return out


def _compiled(value: list[MatcherIn]) -> list[MatcherIn]:
    checked_matchers(value)  # a regex that does not compile is a 422 saying so
    return value


def checked_matchers(items: list[MatcherIn]) -> list[Matcher]:
    try:
        return [Matcher.of(i.name, i.op, i.value) for i in items]
    except InvalidMatcher as exc:
        raise ValueError(str(exc)) from None


MATCHERS_DOC = ('Alertmanager matchers, all of which must match: objects `{"name", "op", "value"}` or text '
                '`service=api`, `env!=prod`, `service=~"api|web"`, `team!~"db.*"`. Regexes are anchored (match the '
                "whole value); a label the alert lacks is the empty string.")
Matchers = Annotated[list[MatcherIn], BeforeValidator(_read_texts), AfterValidator(_compiled)]


class NewSilence(BaseModel):
    model_config = ConfigDict(extra="forbid")

    matchers: Matchers = Field(min_length=1, max_length=50, description=MATCHERS_DOC + (
        " At least one matcher must not match the empty string (a silence never holds every alert)."))
    starts_at: Instant | None = Field(default=None, description="default: now")
    ends_at: Instant
    comment: str = Field(min_length=1, max_length=2000, description="Why: what is being worked on, a ticket")

    @field_validator("matchers")
    @classmethod
    def _usable(cls, value: list[MatcherIn]) -> list[MatcherIn]:
        try:
            check_silence_matchers(checked_matchers(value))
        except InvalidMatcher as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _ends_after_start(self) -> NewSilence:
        if self.starts_at is not None and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class MatcherOut(BaseModel):
    name: str
    op: str
    value: str


class SilenceOut(BaseModel):
    id: int
    state: Literal["pending", "active", "expired"]
    matchers: list[MatcherOut]
    matchers_text: str = Field(description='The matchers as Alertmanager writes them: `service="api", env!="prod"`')
    starts_at: datetime
    ends_at: datetime
    created_by: str = Field(description="Who created it (the authenticated identity)")
    comment: str
    created_at: datetime
    expired_at: datetime | None
    expired_by: str | None
    suppressed_alerts: int | None = Field(default=None, description="Alerts it has suppressed (list views)")
    held_alerts: int | None = Field(default=None, description="Of those, firing and still held (no incident)")

    @classmethod
    def from_row(cls, row, *, now: datetime) -> SilenceOut:
        state = "pending" if row["starts_at"] > now else "active" if row["ends_at"] > now else "expired"
        counts = {k: row[k] for k in ("suppressed_alerts", "held_alerts") if k in row.keys()}
        return cls(id=row["id"], state=state, matchers=[MatcherOut(**m) for m in row["matchers"]],
                   matchers_text=matchers_text(row["matchers"]),
                   starts_at=row["starts_at"], ends_at=row["ends_at"], created_by=row["created_by"],
                   comment=row["comment"], created_at=row["created_at"], expired_at=row["expired_at"],
                   expired_by=row["expired_by"], **counts)


class SuppressedAlert(BaseModel):
    fingerprint: str
    alertname: str | None
    status: str
    labels: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None
    first_seen_at: datetime
    last_seen_at: datetime
    suppressed_by: int = Field(description="The silence that suppressed it")
    held: bool = Field(description="Firing and still held: no incident, nobody paged")
    incident: str | None = Field(description="INC-n once it took the normal path (its silence ended while it fired)")

    @classmethod
    def from_row(cls, row) -> SuppressedAlert:
        return cls(fingerprint=row["fingerprint"], alertname=row["alertname"], status=row["status"], labels=row["labels"],
                   starts_at=row["starts_at"], ends_at=row["ends_at"], first_seen_at=row["first_seen_at"],
                   last_seen_at=row["last_seen_at"], suppressed_by=row["suppressed_by"],
                   held=row["status"] == "firing" and row["incident_id"] is None,
                   incident=f"INC-{row['incident_id']}" if row["incident_id"] else None)
