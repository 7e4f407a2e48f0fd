"""PURE: the notifier's decisions. Which deliveries a page becomes (a person's notification rules),
when a failed attempt is tried again (backoff with jitter, Retry-After), when a recipient may get
the next message (throttling) and which waiting deliveries one message carries (bundling).
No I/O: `now` and the randomness are passed in; the results are data the dispatcher carries out.

Rules written down here, tested in tests/unit/notifier/test_policy.py:
- A page becomes one delivery per step of the person's rules: `page_rules` for channel page,
  `notify_rules` for channel notify (tickets and shift notices too). Without rules a page goes to
  every method at once and a notification to the first method at once. A step naming a method the
  person does not have is skipped (the escalator refuses such configuration; a person's methods may
  still change between the page and its planning). Ids are deterministic per (page, method, step).
- Results are classified once, for every sender: HTTP 2xx accepted; 408, 429 and 5xx transient;
  other statuses permanent (redirects are not followed). SMTP 2xx/3xx accepted, 4xx transient,
  5xx permanent.
- A transient failure is tried again after an exponential backoff with full jitter, never sooner
  than the peer's Retry-After; once `retry_for` since the first attempt is spent the delivery fails.
  A backoff that would cross that deadline is cut to one last attempt at the deadline, unless the
  peer asked to wait past it (it would refuse again): then the delivery fails at once.
- Throttling never drops: a recipient over a limit waits until every limit allows one more message,
  and then everything waiting for that (person, method) goes as one message (see `bundle`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Generic, Literal, Protocol, TypeVar

from services.notifier.outcome import SendResult
from shared.events import ContactKind, ContactMethod, NotificationStep, deterministic_id

Channel = Literal["page", "notify"]

# -- planning ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a person's rules as it will be carried out: `after_s` after the page, use
    `method`. `index` is the step's place in the rules (in the methods for the defaults): with the
    page and the method it makes the delivery id."""

    index: int
    after_s: int
    method: ContactMethod


@dataclass(frozen=True, slots=True)
class PlannedDelivery:
    """One message to send: through the method `method_id` (`kind` says which sender) at `due_at`."""

    delivery_id: str
    page_id: str
    method_id: str
    kind: ContactKind
    step: int
    due_at: datetime


def steps(
    *, channel: Channel, methods: Sequence[ContactMethod],
    page_rules: Sequence[NotificationStep], notify_rules: Sequence[NotificationStep],
) -> list[Step]:
    """The steps a page on `channel` takes for a person with these methods and rules."""
    rules = page_rules if channel == "page" else notify_rules
    if not rules:
        defaults = methods if channel == "page" else methods[:1]
        return [Step(index=i, after_s=0, method=m) for i, m in enumerate(defaults)]
    by_id = {m.id: m for m in methods}
    return [Step(index=i, after_s=r.after_s, method=by_id[r.method]) for i, r in enumerate(rules) if r.method in by_id]


def delivery_id(page_id: str, method: str, step: int) -> str:
    """The same on every redelivery of the page: the idempotency key towards peers as well."""
    return deterministic_id("delivery", page_id, method, str(step))


def plan(
    page_id: str, channel: Channel, methods: Sequence[ContactMethod],
    page_rules: Sequence[NotificationStep], notify_rules: Sequence[NotificationStep], page_time: datetime,
) -> list[PlannedDelivery]:
    """The deliveries of one page, in the order they are due. Empty when the person has no contact
    method (the caller records that nobody could be reached)."""
    planned = [
        PlannedDelivery(
            delivery_id=delivery_id(page_id, s.method.id, s.index), page_id=page_id, method_id=s.method.id,
            kind=s.method.kind, step=s.index, due_at=page_time + timedelta(seconds=s.after_s),
        )
        for s in steps(channel=channel, methods=methods, page_rules=page_rules, notify_rules=notify_rules)
    ]
    return sorted(planned, key=lambda d: (d.due_at, d.step))


# -- results and retries ----------------------------------------------------------------------------

TRANSIENT_HTTP = frozenset({408, 429})
RETRY_BASE_S = 5.0
RETRY_CAP_S = 300.0
RETRY_MIN_S = 1.0  # full jitter may draw ~0: never hammer a peer that just failed


def retry_after_seconds(header: str | None, *, now: datetime) -> float | None:
    """A Retry-After header as seconds from `now`: delay-seconds ("120") or an HTTP date
    ("Wed, 21 Oct 2026 07:28:00 GMT"; a date passed is 0). None when absent or unreadable."""
    if header is None or not header.strip():
        return None
    text = header.strip()
    if text.isascii() and text.isdigit():
        return float(text)
    try:
        at = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if at.tzinfo is None:  # "-0000": UTC by RFC 5322
        at = at.replace(tzinfo=UTC)
    return max(0.0, (at - now).total_seconds())


def classify_http(status: int, retry_after_header: str | None = None, *, now: datetime, detail: str | None = None) -> SendResult:
    """What an HTTP answer means for a delivery. `detail` (e.g. the start of the body) goes into
    the error text."""
    answer = f"HTTP {status}"
    error = f"{answer}: {detail}" if detail else answer
    if 200 <= status < 300:
        return SendResult.accepted(answer)
    if status in TRANSIENT_HTTP or 500 <= status < 600:
        return SendResult.transient(error, answer=answer, retry_after_s=retry_after_seconds(retry_after_header, now=now))
    if 300 <= status < 400:
        return SendResult.permanent(f"{error} (redirects are not followed: configure the final URL)", answer=answer)
    return SendResult.permanent(error, answer=answer)


def classify_smtp(code: int, message: str) -> SendResult:
    """What an SMTP reply means: 2xx/3xx accepted, 4xx try again, 5xx never."""
    answer = f"{code} {message}".strip()
    if 200 <= code < 400:
        return SendResult.accepted(answer)
    if 500 <= code < 600:
        return SendResult.permanent(f"SMTP {answer}", answer=answer)
    return SendResult.transient(f"SMTP {answer}", answer=answer)


def next_attempt(
    result: SendResult, *, attempts: int, first_attempt_at: datetime, now: datetime, retry_for: timedelta,
    base_s: float = RETRY_BASE_S, cap_s: float = RETRY_CAP_S, rand: Callable[[], float],
) -> datetime | None:
    """When to try again after `result`, the outcome of attempt number `attempts` (1 = the first);
    None: the delivery has failed. `rand()` draws from [0, 1) (`random.random`; a constant in tests)."""
    if result.outcome == "accepted":
        raise ValueError("an accepted delivery is not tried again")
    if result.outcome == "permanent":
        return None
    deadline = first_attempt_at + retry_for
    if now >= deadline:
        return None
    ceiling = min(cap_s, base_s * 2 ** max(0, attempts - 1))
    wait_s = max(RETRY_MIN_S, rand() * ceiling)
    if result.retry_after_s is not None:
        if now + timedelta(seconds=result.retry_after_s) > deadline:
            return None
        wait_s = max(wait_s, result.retry_after_s)
    return min(now + timedelta(seconds=wait_s), deadline)


# -- throttling -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `count` messages in any window of `per`."""

    count: int
    per: timedelta

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"a limit allows at least 1 message, got {self.count}")
        if self.per <= timedelta(0):
            raise ValueError(f"a limit's window must be positive, got {self.per}")

    def __str__(self) -> str:
        return f"{self.count}/{_duration_text(self.per)}"


def next_allowed(sent_at: Sequence[datetime], limits: Sequence[Limit], now: datetime) -> datetime | None:
    """None when one more message may go now; else the earliest instant at which every limit allows
    one more. A message sent at `s` counts against a limit while `now - per < s`."""
    newest_first = sorted(sent_at, reverse=True)
    allowed = now
    for limit in limits:
        in_window = [s for s in newest_first if s > now - limit.per]
        if len(in_window) >= limit.count:
            # Once the count-th newest message leaves the window, the window holds count - 1.
            allowed = max(allowed, in_window[limit.count - 1] + limit.per)
    return allowed if allowed > now else None


def longest_window(limits: Iterable[Limit]) -> timedelta:
    """How far back sent messages matter to `next_allowed` (zero without limits)."""
    return max((limit.per for limit in limits), default=timedelta(0))


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_LIMIT = re.compile(r"(\d+)\s*/\s*(\d*)\s*([smhd])")


def _duration_text(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit in ("d", "h", "m"):
        if seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


def parse_limits(text: str) -> tuple[Limit, ...]:
    """'5/15m,11/1h,21/3h' (count/window, units s m h d; '5/h' = 5/1h). '' or 'none': no limit."""
    if text.strip().lower() in ("", "none"):
        return ()
    limits = []
    for part in text.split(","):
        match = _LIMIT.fullmatch(part.strip().lower())
        if match is None:
            raise ValueError(f"{part.strip()!r} is not a limit: write count/window, e.g. '5/15m' (units s, m, h, d)")
        count, amount, unit = match.groups()
        limits.append(Limit(count=int(count), per=timedelta(seconds=int(amount or 1) * _UNITS[unit])))
    return tuple(limits)


ThrottleClass = Literal["sms", "email", "slack", "webhook", "apprise"]

# Anchored on GoAlert's per-person SMS limits (5 per 15 min, 11 per hour, 21 per 3 hours): a phone
# that buzzes more often is not read more carefully. E-mail, Slack and push/chat services (Apprise)
# are cheap to skim, so 20 per 15 min and 60 per hour; webhooks feed machines, so 60 per minute only
# protects the receiver. (Voice, 3 per 15 min in GoAlert, has no sender here yet.)
DEFAULT_LIMITS: Mapping[ThrottleClass, tuple[Limit, ...]] = {
    "sms": parse_limits("5/15m,11/1h,21/3h"),
    "email": parse_limits("20/15m,60/1h"),
    "slack": parse_limits("20/15m,60/1h"),
    "apprise": parse_limits("20/15m,60/1h"),
    "webhook": parse_limits("60/1m"),
}

# Apprise URL schemes that end as a text message on a phone (Apprise 1.9's SMS services).
SMS_SCHEMES = frozenset({
    "46elks", "atalk", "bulksms", "bulkvs", "burstsms", "clickatell", "clicksend", "cm", "d7sms", "eight00com",
    "elks", "exotel", "freemobile", "httpsms", "infobip", "kaleyra", "klr", "kavenegar", "kudosity", "mobilemessage",
    "mobilemsg", "msg91", "msgbird", "nexmo", "notifyre", "octopush", "plivo", "ringc", "serwersms", "seven", "sfr",
    "sinch", "smpp", "smpps", "smsc", "smseagle", "smseagles", "smsmanager", "smsmgr", "smstunnel", "sns",
    "telesign", "telnyx", "twilio", "voipms", "vonage",
})
_APPRISE_AS = {"mailto": "email", "mailtos": "email", "json": "webhook", "jsons": "webhook", "form": "webhook",
               "forms": "webhook", "xml": "webhook", "xmls": "webhook"}


def throttle_class(kind: ContactKind, address: str) -> ThrottleClass:
    """Which limits apply to a contact method: its kind, except that an Apprise URL counts as what
    it reaches (twilio:// is SMS, mailto:// e-mail, json:// a webhook)."""
    if kind != "apprise":
        return kind
    scheme = address.partition("://")[0].strip().lower()
    if scheme in SMS_SCHEMES:
        return "sms"
    return _APPRISE_AS.get(scheme, "apprise")  # type: ignore[return-value]


def parse_throttle(text: str) -> dict[ThrottleClass, tuple[Limit, ...]]:
    """The limits per class from a setting such as 'sms=5/15m,11/1h;email=20/15m;webhook=none';
    a class not named keeps its default."""
    limits: dict[ThrottleClass, tuple[Limit, ...]] = dict(DEFAULT_LIMITS)
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, equals, value = part.partition("=")
        name = name.strip().lower()
        if not equals or name not in DEFAULT_LIMITS:
            raise ValueError(f"{part!r}: write <class>=<limits>, class one of {', '.join(DEFAULT_LIMITS)}")
        try:
            limits[name] = parse_limits(value)  # type: ignore[index]
        except ValueError as e:
            raise ValueError(f"{name}: {e}") from None
    return limits


# -- bundling ---------------------------------------------------------------------------------------


class Waiting(Protocol):
    """A due delivery as bundling sees it (the dispatcher wraps its rows in a small dataclass)."""

    @property
    def incident_id(self) -> int: ...
    @property
    def severity(self) -> int: ...
    @property
    def due_at(self) -> datetime: ...


W = TypeVar("W", bound=Waiting)


def _rank(w: Waiting) -> tuple[int, datetime, int]:
    return w.severity, w.due_at, w.incident_id


def bundle_order(waiting: Sequence[W]) -> list[W]:
    """The order one message lists its deliveries in: most severe first (SEV1 before SEV2), then the
    oldest, then the lowest incident id. The first is the message's headline."""
    return sorted(waiting, key=_rank)


@dataclass(frozen=True, slots=True)
class Bundle(Generic[W]):
    """One message for everything waiting for a (person, method): `headline` is what it is about,
    `others` one delivery per other incident in the order the message lists them, `deliveries`
    every delivery the message carries, in `bundle_order` (several of one incident are one mention)."""

    headline: W
    others: tuple[W, ...]
    deliveries: tuple[W, ...]

    @property
    def more_incidents(self) -> int:
        """What the message says ("and 11 more incidents") and DeliveryUpdated.bundled_with."""
        return len(self.others)


def bundle(waiting: Sequence[W]) -> Bundle[W]:
    if not waiting:
        raise ValueError("nothing to bundle")
    ordered = bundle_order(waiting)
    mentioned: set[int] = set()
    mentions = []
    for w in ordered:
        if w.incident_id not in mentioned:
            mentioned.add(w.incident_id)
            mentions.append(w)
    return Bundle(headline=mentions[0], others=tuple(mentions[1:]), deliveries=tuple(ordered))
