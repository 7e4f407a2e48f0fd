"""The event contract: versioned, typed messages, their topics, and their Kafka encoding.

Every message on a Vigil topic is one of the models here, serialised as JSON. Envelope metadata
travels in Kafka headers following the CloudEvents Kafka protocol binding (binary mode):
`ce_specversion`, `ce_id`, `ce_source`, `ce_type`, `ce_time`, `content-type`, plus W3C `traceparent`.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, ClassVar, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, model_validator
from pydantic.dataclasses import dataclass as pydantic_dataclass
from pydantic.config import ExtraValues


class Topic:
    """Topic names. The `.v1` suffix is the schema major version of what the topic carries."""

    ALERTS = "vigil.alerts.v1"
    INCIDENTS = "vigil.incidents.v1"
    PAGES = "vigil.pages.v1"
    TICKETS = "vigil.tickets.v1"
    METRICS = "vigil.metrics.v1"
    PEOPLE = "vigil.people.v1"  # compacted: the latest PersonUpdated per person
    DELIVERIES = "vigil.deliveries.v1"
    SHIFTS = "vigil.shifts.v1"  # on-call shift start and end notices, keyed by person
    IDENTITY = "vigil.identity.v1"  # compacted: personal API tokens' state (revocations), keyed by token id
    REPORTS = "vigil.reports.v1"  # operations reports the schedule produced, for the notifier to deliver
    BUDGETS = "vigil.budgets.v1"  # compacted: the latest error-budget state per service and SLO
    HANDOVERS = "vigil.handovers.v1"  # a rotation's primary hands over: the incident service drafts the handoff
    COMPACTED = frozenset({PEOPLE, IDENTITY, BUDGETS})  # created with cleanup.policy=compact: the latest message per key stays

    @staticmethod
    def dlq(topic: str) -> str:
        """The dead-letter topic of `topic`: where its undecodable messages go, with the error."""
        return f"{topic}.dlq"


# Namespace for deterministic event ids (uuid5), so the same fact always gets the same id.
EVENT_ID_NAMESPACE = uuid.UUID("5d1f6a3e-0c59-4d0e-9a43-7f1b8f5e2c10")


_EVENT_ID_NAMESPACE_BYTES = EVENT_ID_NAMESPACE.bytes


def deterministic_id(*parts: str) -> str:
    """A stable UUID for a fact described by `parts`: redelivery of the same fact gives the same id.

    Exactly `str(uuid.uuid5(EVENT_ID_NAMESPACE, "\\x1f".join(parts)))`, computed without building a
    `uuid.UUID` object, which is most of uuid5's cost (ingest computes one id per alert).
    """
    name = "\x1f".join(parts).encode()
    digest = bytearray(hashlib.sha1(_EVENT_ID_NAMESPACE_BYTES + name, usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_ZERO_OFFSET = timedelta(0)


def utc_isoformat(value: datetime) -> str:
    """`value.astimezone(UTC).isoformat()`: in UTC, so the same instant written with another offset
    gives the same text. Skips the conversion for times already at offset zero (nearly all)."""
    return value.isoformat() if value.utcoffset() == _ZERO_OFFSET else value.astimezone(UTC).isoformat()


class Event(BaseModel):
    """Base of every message. Subclasses set `event_type` and `topic` and say what their key is."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    topic: ClassVar[str]

    schema_version: Literal[1] = 1
    event_id: str = Field(description="Unique per fact; consumers drop an id they have seen.")
    occurred_at: AwareDatetime = Field(description="When the producer observed the fact (UTC).")
    source: str = Field(description="Who produced the event, e.g. 'alertmanager' or 'slo'.")

    def kafka_key(self) -> bytes:
        raise NotImplementedError


class AlertEvent(Event):
    """One alert's state as a monitoring system reported it (firing or resolved).

    Key: the alert `fingerprint`, so one alert's history stays in one partition, in order.
    """

    event_type: ClassVar[str] = "dev.vigil.alert.v1"
    topic: ClassVar[str] = Topic.ALERTS

    fingerprint: str = Field(min_length=1, max_length=128)
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: AwareDatetime
    ends_at: AwareDatetime | None = Field(
        default=None, description="None while firing (Alertmanager sends the zero time then)."
    )
    generator_url: str | None = None
    group_key: str | None = None
    group_labels: dict[str, str] = Field(default_factory=dict)
    receiver: str | None = None
    external_url: str | None = None
    truncated_alerts: int = Field(default=0, ge=0, description="Alerts Alertmanager left out of the notification.")

    def kafka_key(self) -> bytes:
        return self.fingerprint.encode()

    @staticmethod
    def id_for(*, source: str, fingerprint: str, status: str, starts_at: datetime, ends_at: datetime | None) -> str:
        """The event id of one alert state: the same state delivered twice gets the same id."""
        ends = utc_isoformat(ends_at) if ends_at else ""
        return deterministic_id(source, fingerprint, status, utc_isoformat(starts_at), ends)


class AlertAcknowledged(Event):
    """A monitoring tool acknowledged one firing alert (PagerDuty Events v2 `acknowledge`): the
    incident it belongs to is acknowledged by `actor`.

    On `vigil.alerts.v1` beside the AlertEvents, keyed by the same `fingerprint`, so it is read
    after the alert's firing event. `status` is always "acknowledged": it tells the two kinds of
    message on the topic apart (`AlertTopicMessage`).
    """

    event_type: ClassVar[str] = "dev.vigil.alert-acknowledged.v1"
    topic: ClassVar[str] = Topic.ALERTS

    fingerprint: str = Field(min_length=1, max_length=128)
    status: Literal["acknowledged"] = "acknowledged"
    starts_at: AwareDatetime = Field(description="The occurrence acknowledged: the start of the alert's firing.")
    actor: str = Field(min_length=1, max_length=200, description="Who acknowledged: the integration's name.")

    def kafka_key(self) -> bytes:
        return self.fingerprint.encode()


class AlertTopicMessage:
    """Decodes a `vigil.alerts.v1` message into what it is: an AlertEvent or an AlertAcknowledged,
    told apart by `status` (a discriminated union: one parse, no trial and error). Has the one
    method `ConsumerLoop` calls on its model."""

    _adapter: ClassVar[TypeAdapter] = TypeAdapter(
        Annotated[AlertEvent | AlertAcknowledged, Field(discriminator="status")])

    @classmethod
    def model_validate_json(cls, value: bytes | str, *, extra: ExtraValues | None = None) -> AlertEvent | AlertAcknowledged:
        return cls._adapter.validate_json(value, extra=extra)


E = TypeVar("E", bound=Event)

CE_SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"

Headers = list[tuple[str, bytes]]


_CE_SPECVERSION_BYTES = CE_SPECVERSION.encode()
_CONTENT_TYPE_BYTES = CONTENT_TYPE.encode()

def encode(
    event: Event, *, ce_source: str, traceparent: str | None = None, ce_time: bytes | None = None
) -> tuple[bytes, bytes, Headers]:
    """Key, value and CloudEvents headers for producing `event` to its topic. `ce_time` may be
    given when already known (`occurred_at.isoformat()`, shared by a notification's events)."""
    headers: Headers = [
        ("ce_specversion", _CE_SPECVERSION_BYTES),
        ("ce_id", event.event_id.encode()),
        ("ce_source", ce_source.encode()),
        ("ce_type", event.event_type.encode()),
        ("ce_time", ce_time or event.occurred_at.isoformat().encode()),
        ("content-type", _CONTENT_TYPE_BYTES),
    ]
    if traceparent:
        headers.append(("traceparent", traceparent.encode()))
    # Exactly `event.model_dump_json().encode()` (model_dump_json is this call with the same
    # defaults, then `.decode()`), without turning the JSON into a str and back into bytes.
    value = event.__pydantic_serializer__.to_json(event)
    return event.kafka_key(), value, headers


def decode(model: type[E], value: bytes | None) -> E:
    """Parse a message value as `model`; raises pydantic.ValidationError or ValueError if it is not one.

    Fields the model does not know are dropped, not refused: schemas evolve by adding optional
    fields (docs/deploy.md), so during a rolling upgrade an older consumer reads a newer producer's
    messages instead of sending them to the dead-letter topic. Everything else stays strict, and a
    model built in our code or from an HTTP body still refuses unknown fields (`extra="forbid"`)."""
    if value is None:
        raise ValueError("message has no value")
    return model.model_validate_json(value, extra="ignore")


def header(headers: Headers | tuple, name: str) -> str | None:
    """The value of header `name` as text, or None."""
    for key, value in headers:
        if key == name:
            return value.decode(errors="replace") if value is not None else None
    return None


IncidentEventKind = Literal[
    "opened", "acknowledged", "unacknowledged", "status_changed", "severity_changed",
    "commander_assigned", "resolved", "reopened",
    "alerts_resolved",  # every alert of the incident resolved; it stays for a person to close (status after it)
    "alerts_firing",  # an alert fired again into an incident whose alerts had all resolved
    "unsuppressed",  # the maintenance window that suppressed it ended while it was open: it pages from now on
]


class IncidentEvent(Event):
    """A lifecycle change of one incident, with the incident's state after it.

    Key: the incident id, so one incident's changes stay in order. `version` increases with every
    change of the incident: a consumer can ignore an event older than what it already applied.
    """

    event_type: ClassVar[str] = "dev.vigil.incident.v1"
    topic: ClassVar[str] = Topic.INCIDENTS

    kind: IncidentEventKind
    incident_id: int = Field(ge=1)
    number: str = Field(description="INC-<n>")
    version: int = Field(ge=1)
    title: str
    severity: int = Field(ge=1, le=4, description="1 = SEV1 (critical) … 4 = SEV4 (low)")
    status: Literal["investigating", "mitigating", "resolved"]
    acknowledged_by: str | None = None
    commander: str | None = None
    actor: str | None = Field(default=None, description="Who made the change ('vigil' for automatic ones).")
    labels: dict[str, str] = Field(default_factory=dict, description="Labels of the alert that opened it (routing).")
    detected_at: AwareDatetime
    suppressed: bool = Field(default=False, description="Opened inside a maintenance window's scope: recorded and "
                             "visible, never paged (the escalator plans no pages or tickets for it).")

    def kafka_key(self) -> bytes:
        return str(self.incident_id).encode()

    @staticmethod
    def id_for(*, incident_id: int, version: int, kind: str) -> str:
        return deterministic_id("incident", str(incident_id), str(version), kind)


POLICY_NOTE_MAX = 1000
POLICY_NOTE_TEXT = ("Set when the error-budget policy changed the incident's escalation when it opened: why, e.g. "
                    "\"medium → page: checkout's error budget is exhausted (availability: -4 % left)\".")


class PageRequested(Event):
    """The escalator asks the paging pipeline to reach a person. `page_id` is deterministic per
    (incident, escalation step, person): a replay or a second replica never pages twice."""

    event_type: ClassVar[str] = "dev.vigil.page.v1"
    topic: ClassVar[str] = Topic.PAGES

    page_id: str
    incident_id: int = Field(ge=1)
    number: str
    severity: int = Field(ge=1, le=4)
    title: str
    target: str = Field(description="The person paged.")
    role: Literal["primary", "backup", "override"] = "primary"
    schedule: str | None = None
    channel: Literal["page", "notify"] = Field(default="page", description="notify = non-paging notification")
    reason: str = Field(description="initial, escalation, repeat or ack-timeout (or why no one was reached)")
    step: int = Field(ge=0)
    repetition: int = Field(default=0, ge=0, description="Which pass of a repeating chain (0 = the first).")
    contact: str | None = Field(default=None, description="How to reach the target (e.g. e-mail, phone), from the escalator's people.")
    due_at: AwareDatetime | None = Field(default=None, description="When the policy said to page; occurred_at is when it was sent.")
    links: dict[str, str] = Field(default_factory=dict, description="e.g. incident (API), runbook, generator URLs")
    late: str | None = Field(default=None, max_length=500, description="Set when the page is sent late, after a gap "
                             "in which the escalator could not act: how late, why, and which earlier pages were skipped.")
    policy_note: str | None = Field(default=None, max_length=POLICY_NOTE_MAX, description=POLICY_NOTE_TEXT)

    def kafka_key(self) -> bytes:
        return str(self.incident_id).encode()


class TicketRequested(Event):
    """The escalator opens a ticket for an incident that needs work, not a page."""

    event_type: ClassVar[str] = "dev.vigil.ticket.v1"
    topic: ClassVar[str] = Topic.TICKETS

    ticket_id: str
    incident_id: int = Field(ge=1)
    number: str
    severity: int = Field(ge=1, le=4)
    title: str
    due_at: AwareDatetime
    assignee: str | None = None
    policy_note: str | None = Field(default=None, max_length=POLICY_NOTE_MAX, description=POLICY_NOTE_TEXT)

    def kafka_key(self) -> bytes:
        return str(self.incident_id).encode()


ContactKind = Literal["email", "webhook", "slack", "apprise"]


class ContactMethod(BaseModel):
    """One way to reach a person. `address`: an e-mail address (email), an https URL (webhook; Slack
    incoming webhook), an Apprise URL (apprise). `${NAME}` in an address is filled in by the notifier
    from its own environment, so secrets in URLs need not be in the configuration or on Kafka."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$", description="Unique per person, e.g. 'email', 'phone'.")
    kind: ContactKind
    address: str = Field(min_length=1, max_length=2000)
    label: str | None = Field(default=None, max_length=200)


class NotificationStep(BaseModel):
    """One step of a personal notification rule: `after_s` seconds after the page, use `method`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    after_s: int = Field(ge=0, le=7 * 86400)
    method: str = Field(min_length=1, max_length=64)


class PersonUpdated(Event):
    """A person's contact methods and personal notification rules as the escalator's configuration
    has them now (the whole set, not a change). `removed`: the person left the configuration.
    `vigil.people.v1` is compacted by person, so a new consumer reads every person's latest state."""

    event_type: ClassVar[str] = "dev.vigil.person.v1"
    topic: ClassVar[str] = Topic.PEOPLE

    person: str = Field(min_length=1, max_length=200)
    revision: int = Field(ge=0, description="The configuration revision this state comes from; a lower one never overwrites a higher.")
    contact_methods: tuple[ContactMethod, ...] = ()
    page_rules: tuple[NotificationStep, ...] = Field(default=(), description="For pages; empty = every method at once.")
    notify_rules: tuple[NotificationStep, ...] = Field(default=(), description="For non-paging notifications (channel notify), tickets and shift notices; empty = the first method at once.")
    removed: bool = False

    def kafka_key(self) -> bytes:
        return self.person.encode()


class DeliveryUpdated(Event):
    """The notifier reached (or failed to reach) a person through one contact method, for the
    incident timeline. `answer`: what the peer said (SMTP reply, HTTP status)."""

    event_type: ClassVar[str] = "dev.vigil.delivery.v1"
    topic: ClassVar[str] = Topic.DELIVERIES

    delivery_id: str
    incident_id: int = Field(ge=1)
    page_id: str | None = None
    person: str
    method: str = Field(description="The contact method's id; 'none' when the person has no way to be reached.")
    kind: ContactKind | Literal["none"]
    state: Literal["sent", "failed", "cancelled"]
    attempts: int = Field(ge=0)
    answer: str | None = Field(default=None, max_length=2000)
    error: str | None = Field(default=None, max_length=2000)
    bundled_with: int = Field(default=0, ge=0, description="How many other incidents the same message carried (throttling).")

    def kafka_key(self) -> bytes:
        return str(self.incident_id).encode()


class ShiftNotice(Event):
    """A person starts (`kind` starting) or stops (ending) being on call for one tier of a schedule
    at `at`; the escalator sends it ahead of the boundary and the notifier tells the person through
    their non-paging rules. `notice_id` (also the event id) is deterministic per (schedule, tier,
    person, kind, at): a boundary is announced once, whatever the replicas and restarts."""

    event_type: ClassVar[str] = "dev.vigil.shift.v1"
    topic: ClassVar[str] = Topic.SHIFTS

    notice_id: str
    person: str = Field(min_length=1, max_length=200)
    schedule: str
    tier: Literal["primary", "backup"]
    kind: Literal["starting", "ending"]
    at: AwareDatetime = Field(description="The boundary: when the person starts or stops being on call.")
    until: AwareDatetime | None = Field(
        default=None, description="For `starting`: when the shift ends (None: not in sight, e.g. a one-person rotation).")

    def kafka_key(self) -> bytes:
        return self.person.encode()

    @staticmethod
    def id_for(*, schedule: str, tier: str, person: str, kind: str, at: datetime) -> str:
        return deterministic_id("shift-notice", schedule, tier, person, kind, utc_isoformat(at))


class HandoverDue(Event):
    """A schedule's primary rotation hands over at `at` from `from_person` to `to_person` (overrides
    included); both are on call until `overlap_ends_at`. The escalator sends it a lead before `at`;
    the incident service drafts the on-call handoff for the outgoing person and asks the incoming one
    to acknowledge it during the overlap. `handover_id` (also the event id) is deterministic per
    (schedule, tier, at): a handover is announced once, whatever the replicas and restarts."""

    event_type: ClassVar[str] = "dev.vigil.handover.v1"
    topic: ClassVar[str] = Topic.HANDOVERS

    handover_id: str
    schedule: str = Field(min_length=1, max_length=100)
    tier: Literal["primary"] = "primary"
    from_person: str = Field(min_length=1, max_length=200)
    to_person: str = Field(min_length=1, max_length=200)
    at: AwareDatetime = Field(description="The handover: when the incoming person starts being on call.")
    overlap_ends_at: AwareDatetime = Field(description="When the outgoing person stops: the acknowledgement is due by then.")

    def kafka_key(self) -> bytes:
        return self.schedule.encode()

    @staticmethod
    def id_for(*, schedule: str, tier: str, at: datetime) -> str:
        return deterministic_id("handover", schedule, tier, utc_isoformat(at))


class ReportPublished(Event):
    """The incident service's schedule produced an operations report (daily check, weekly or
    monthly review) and stored it; the notifier tells `recipients` with a link to its page. One per
    (kind, period): the event id is deterministic, so a replay or a second replica sends nothing more.
    A recipient is a person the notifier knows (their non-paging rules) or an address: an e-mail
    address, an https webhook or Slack incoming-webhook URL, `slack:#channel`, or an Apprise URL."""

    event_type: ClassVar[str] = "dev.vigil.report.v1"
    topic: ClassVar[str] = Topic.REPORTS

    # "reminders": a person's daily reminder digest (the incident service's ops/reminders.py), one
    # per (person, day); "update_due": an incident's promised next update passed (period INC-<id>),
    # once per promised time. Both have that person as the only recipient. The handoff kinds
    # (period H-<handoff id>): "handoff_due" asks the outgoing person to complete the drafted handoff,
    # "handoff_ack" asks the incoming one to acknowledge it during the overlap, "handoff_unacknowledged"
    # tells the team it was not acknowledged when the overlap ended.
    kind: Literal["daily_check", "weekly_review", "monthly_review", "reminders", "update_due",
                  "handoff_due", "handoff_ack", "handoff_unacknowledged"]
    period: str = Field(min_length=1, max_length=20, description="2026-12-07, 2026-W49, 2026-12")
    title: str = Field(max_length=200, description="e.g. 'Daily operations check 2026-12-07'")
    summary: str = Field(max_length=2000, description="One or two lines: what needs attention, in words.")
    url: str | None = Field(default=None, max_length=2000, description="The report's console page.")
    recipients: tuple[str, ...] = Field(default=(), max_length=100)

    def kafka_key(self) -> bytes:
        return self.kind.encode()

    @staticmethod
    def id_for(*, kind: str, period: str) -> str:
        return deterministic_id("report-published", kind, period)


# A (pydantic) dataclass with slots, not a BaseModel: an event carries ten or so of these, and
# building them is a quarter of decoding a MetricsEvent (measured 13.3 -> 10.8 us per event). Same
# fields, constraints, JSON and validation errors.
@pydantic_dataclass(frozen=True, slots=True, config=ConfigDict(extra="forbid", ser_json_inf_nan="strings"))
class LatencyBucket:
    """One cumulative histogram bucket, Prometheus-style: `count` observations took at most `le` seconds."""

    le: float = Field(gt=0, description="Upper bound in seconds; the last bucket is +Inf (in JSON the string \"+Inf\" or \"Infinity\").")
    count: int = Field(ge=0)


class Utilisation(BaseModel):
    """Resource utilisation gauges as fractions (0.45 = 45 %); a resource not measured is omitted."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cpu: float | None = Field(default=None, ge=0, le=1)
    memory: float | None = Field(default=None, ge=0, le=1)
    storage: float | None = Field(default=None, ge=0, le=1)
    network: float | None = Field(default=None, ge=0, le=1)


_INF = float("inf")


class MetricsEvent(Event):
    """What one service did in one interval, as an exporter or the application measured it.

    Key: the service name, so one service's intervals stay in one partition. The SLO service folds
    it into the UTC minute that contains `interval_start`; `event_id` makes a redelivery harmless
    (use `MetricsEvent.id_for` for a deterministic one).
    """

    event_type: ClassVar[str] = "dev.vigil.metrics.v1"
    topic: ClassVar[str] = Topic.METRICS

    service: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$")
    interval_start: AwareDatetime
    interval_s: int = Field(default=60, ge=1, le=3600)
    requests: int = Field(ge=0, description="Requests served in the interval.")
    errors: int = Field(ge=0, description="Requests among them that failed (e.g. 5xx).")
    latency_buckets: list[LatencyBucket] = Field(
        default_factory=list, max_length=64, description="Cumulative, ascending `le`, ending with +Inf."
    )
    utilisation: Utilisation = Field(default_factory=Utilisation)

    def kafka_key(self) -> bytes:
        return self.service.encode()

    @model_validator(mode="after")
    def _consistent(self) -> MetricsEvent:
        if self.errors > self.requests:
            raise ValueError("errors cannot exceed requests")
        buckets = self.latency_buckets
        if buckets:
            if buckets[-1].le != _INF:
                raise ValueError("the last latency bucket must be +Inf")
            previous_le, previous_count = 0.0, 0  # every le > 0 and count >= 0 (field constraints)
            for b in buckets:
                le, count = b.le, b.count
                if not le > previous_le or count < previous_count:
                    raise ValueError("latency buckets must have ascending le and non-decreasing (cumulative) counts")
                previous_le, previous_count = le, count
        return self

    @staticmethod
    def id_for(*, source: str, service: str, interval_start: datetime) -> str:
        """The event id of one service's interval from one source: a resend gets the same id."""
        return deterministic_id("metrics", source, service, interval_start.astimezone(UTC).isoformat())


class TokenChanged(Event):
    """A personal API token was created or revoked. Every service reads `vigil.identity.v1` (compacted,
    keyed by token id) from its beginning into the set of revoked ids its requests are checked
    against (shared/identity.py): a revoked token stops working everywhere within a second."""

    event_type: ClassVar[str] = "dev.vigil.token.v1"
    topic: ClassVar[str] = Topic.IDENTITY

    token_id: str = Field(min_length=1, max_length=64)
    person: str = Field(min_length=1, max_length=200)
    revoked: bool

    def kafka_key(self) -> bytes:
        return self.token_id.encode()


BudgetState = Literal["healthy", "burning", "exhausted"]


class BudgetStateChanged(Event):
    """One SLO's error budget changed state (healthy, burning: a burn-rate alert fires, exhausted),
    published by the SLO service when its evaluation sees the change. `vigil.budgets.v1` is compacted
    by service and SLO, so a consumer reading it from the beginning learns every budget's state; the
    escalator's error-budget policy acts on it when an incident opens."""

    event_type: ClassVar[str] = "dev.vigil.budget.v1"
    topic: ClassVar[str] = Topic.BUDGETS

    service: str = Field(min_length=1, max_length=200)
    slo: str = Field(min_length=1, max_length=63)
    state: BudgetState
    previous_state: BudgetState | None = Field(default=None, description="None: the first state published for this SLO")
    remaining_fraction: float = Field(description="The rolling 30-day budget left (1 = untouched, below 0 = overspent)")
    since: AwareDatetime = Field(description="When the evaluator first saw this state")

    def kafka_key(self) -> bytes:
        return f"{self.service}\x1f{self.slo}".encode()

    @staticmethod
    def id_for(*, service: str, slo: str, state: str, since: datetime) -> str:
        return deterministic_id("budget-state", service, slo, state, utc_isoformat(since))
