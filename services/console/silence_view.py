"""PURE: the Silences pages' form and wording — matcher rows and matcher text read into the silence
API's request, the end as a preset or a time, the API's 422 field messages put back beside the fields
they name, a silence's time in words, and the "Silence…" link from an alert's labels. No I/O; `now`
is passed in.

Matchers go to the incident service as the CLI sends them: rows as `{"name", "op", "value"}`, text as
Alertmanager's matchers (`service="checkout", env=~"prod.*"`), each read by the service itself, so
the page and `vigil silence add` accept the same things and are refused with the same messages."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from services.console.rendering import duration, instant

OPS = ("=", "!=", "=~", "!~")
MIN_ROWS = 3
MAX_ROWS = 12  # a form sends at most 50 fields (web.read_form): 12 rows of 3 and the rest
END_PRESETS = {"1h": ("1 h", timedelta(hours=1)), "2h": ("2 h", timedelta(hours=2)),
               "4h": ("4 h", timedelta(hours=4)), "1d": ("1 d", timedelta(days=1))}
DEFAULT_END = "2h"
UNTIL = "until"  # the end preset that means "the time in the `until` field"
FIELDS = ("matchers", "starts_at", "ends_at", "comment")
_MATCHER_ROW = re.compile(r"^matchers\[(\d+)\]")
KEY_REUSED = "this Idempotency-Key was used for another request"  # the incident service's words
SENT_BEFORE = ("this form was sent before, a minute or more ago, and made a silence (it is listed under Silences). "
               "Send it again to make another one.")


class InputError(ValueError):
    """What the page itself cannot read (a time that is no time); the message says which field."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


@dataclass
class SilenceForm:
    """The create form as typed (re-shown as typed when the API refuses it)."""

    rows: list[dict[str, str]] = field(default_factory=list)
    text: str = ""
    starts: str = ""
    end: str = DEFAULT_END
    until: str = ""
    comment: str = ""
    key: str = ""

    @classmethod
    def of(cls, form: dict[str, str], *, key: str) -> SilenceForm:
        rows = [{"name": form.get(f"name_{i}", "").strip(), "op": form.get(f"op_{i}", "="),
                 "value": form.get(f"value_{i}", "")} for i in range(MAX_ROWS) if f"name_{i}" in form]
        return cls(rows=padded(rows), text=form.get("matchers_text", "").strip(), starts=form.get("starts", "").strip(),
                   end=form.get("end", DEFAULT_END), until=form.get("until", "").strip(),
                   comment=form.get("comment", "").strip(), key=key)


def padded(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """At least MIN_ROWS rows, and one empty row after the filled ones while there is room."""
    rows = list(rows[:MAX_ROWS])
    while len(rows) < MIN_ROWS or (len(rows) < MAX_ROWS and any(r["name"] or r["value"] for r in rows[-1:])):
        rows.append({"name": "", "op": "=", "value": ""})
    return rows


def prefilled(labels: list[str], *, key: str) -> SilenceForm:
    """The form from `?label=name=value&label=…` (an alert's labels, the "Silence…" link): one `=`
    row per label — or, with more labels than rows, all of them as matcher text."""
    pairs = [tuple(item.split("=", 1)) for item in labels if "=" in item]
    pairs = [(name.strip(), value) for name, value in pairs if name.strip()]
    if len(pairs) >= MAX_ROWS:
        return SilenceForm(rows=padded([]), text=matchers_text(pairs), key=key)
    return SilenceForm(rows=padded([{"name": n, "op": "=", "value": v} for n, v in pairs]), key=key)


def matchers_text(pairs: list[tuple[str, str]]) -> str:
    """Label pairs as Alertmanager's equality matchers: `service="checkout", env="prod"`."""
    return ", ".join(f'{name}="{_quoted(value)}"' for name, value in pairs)


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def silence_link(labels: dict[str, str]) -> str:
    """The create form pre-filled with an alert's labels (for the incident page's "Silence…")."""
    return "/silences/new?" + urlencode([("label", f"{name}={value}") for name, value in sorted(labels.items())])


def split_matchers(text: str) -> list[str]:
    """`{service="checkout", env=~"prod.*"}` → `['service="checkout"', 'env=~"prod.*"']`: split at
    commas outside double quotes (a `\\"` inside quotes does not end them); braces are optional."""
    text = text.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    parts, current, quoted, escaped = [], [], False, False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [part.strip() for part in parts if part.strip()]


def form_time(text: str, field_name: str) -> datetime:
    """A `datetime-local` value (2026-12-07T22:00), read as UTC as the pages show times; an offset is kept."""
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(field_name, f"{text[:40]!r} is not a date and time (2026-12-07T22:00, UTC)") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def silence_request(form: SilenceForm, *, now: datetime) -> dict:
    """The body of `POST /api/v1/silences`: row matchers (empty rows left out) and text matchers;
    the start (none: the service's now); the end as the preset after the start, or the `until` time."""
    matchers: list[dict | str] = [{"name": r["name"], "op": r["op"], "value": r["value"]}
                                  for r in form.rows if r["name"] or r["value"]]
    matchers += split_matchers(form.text)
    if not matchers:
        raise InputError("matchers", "Give at least one matcher: a label name, an operator and a value "
                                     '(service = checkout), or matchers as text (service="checkout").')
    starts_at = form_time(form.starts, "starts_at") if form.starts else None
    if form.end == UNTIL:
        if not form.until:
            raise InputError("ends_at", "Give the time it ends, or choose how long it lasts.")
        ends_at = form_time(form.until, "ends_at")
    elif form.end in END_PRESETS:
        ends_at = minute_up((starts_at or now) + END_PRESETS[form.end][1])
    else:
        raise InputError("ends_at", "Choose how long it lasts (1 h, 2 h, 4 h, 1 d) or when it ends.")
    body: dict = {"matchers": matchers, "ends_at": ends_at.isoformat(), "comment": form.comment}
    if starts_at is not None:
        body["starts_at"] = starts_at.isoformat()
    return body


def minute_up(at: datetime) -> datetime:
    """The next whole minute (or `at`, on one). A preset end is never shorter than chosen, and the
    same form sent twice within the minute is the same request, which its Idempotency-Key replays."""
    whole = at.replace(second=0, microsecond=0)
    return whole if whole == at else whole + timedelta(minutes=1)


def field_errors(message: str, fields: tuple[tuple[str, str], ...] = ()) -> dict[str, list[str]]:
    """The API's 422 as messages per form field — `matchers`, `starts_at`, `ends_at`, `comment` —
    and `form` for the rest: from its `fields` (`matchers[1].name`, `body` for the whole request),
    or its message when it names no field."""
    if message == KEY_REUSED:
        return {"form": [SENT_BEFORE]}
    if not fields:
        return {"form": [message]}
    found: dict[str, list[str]] = {}
    for name, text in fields:
        text = text.removeprefix("Value error, ")
        where = next((f for f in FIELDS if name.startswith(f)), "form")
        if where == "form" and text.startswith("ends_at "):  # the request's own check: "ends_at must be after starts_at"
            where = "ends_at"
        if row := _MATCHER_ROW.match(name):  # which row: the API numbers the matchers it was sent from 0
            text = f"matcher {int(row.group(1)) + 1}: {text}"
        found.setdefault(where, []).append(text)
    return found


def timing(silence: dict, now: datetime) -> str:
    """When, in words: "ends in 1 h 20 min", "starts in 3 h", "ended 2 d ago"."""
    starts, ends = instant(silence["starts_at"]), instant(silence["ends_at"])
    if starts and starts > now:
        return f"starts in {duration((starts - now).total_seconds())}"
    if ends and ends > now:
        return f"ends in {duration((ends - now).total_seconds())}"
    if ends:
        return f"ended {duration((now - ends).total_seconds())} ago"
    return ""


def expire_warning(held: int) -> str:
    """What expiring does to the alerts a silence holds now."""
    if held == 0:
        return "It holds no firing alert now: expiring it pages nobody."
    alerts = "1 alert it holds is" if held == 1 else f"{held} alerts it holds are"
    return f"{alerts} still firing: expiring it opens (or joins) their incidents and pages now."
