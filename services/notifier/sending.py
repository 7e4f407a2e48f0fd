"""From delivery rows to one message through one sender: what the message says (messages.py), the
signed links it carries (links.py), and which sender takes it (senders/). The dispatcher calls
`Channels.send` with the headline delivery first and the deliveries bundled into the same message."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from services.notifier import links, messages, policy, reports
from services.notifier.config import NotifierSettings
from services.notifier.outcome import SendResult
from services.notifier.senders import UnsetVariable, expand
from services.notifier.senders.apprise_target import send_apprise
from services.notifier.senders.slack import slack_bot_client, slack_channel, send_slack_message, send_slack_webhook
from services.notifier.senders.smtp import SmtpTarget, send_email
from services.notifier.senders.webhook import derive_secret, send_webhook
from shared.clock import Clock
from shared.events import PageRequested, ReportPublished, ShiftNotice, TicketRequested, utc_isoformat


@dataclass
class Channels:
    settings: NotifierSettings
    http: httpx.AsyncClient
    env: Mapping[str, str]
    clock: Clock
    smtp: SmtpTarget | None
    slack_bot: object | None
    limits: dict[str, tuple[policy.Limit, ...]]

    @classmethod
    def from_settings(cls, settings: NotifierSettings, *, http: httpx.AsyncClient, env: Mapping[str, str],
                      clock: Clock) -> Channels:
        smtp = SmtpTarget(
            host=settings.notifier_smtp_host, port=settings.notifier_smtp_port, security=settings.notifier_smtp_security,
            username=settings.notifier_smtp_username,
            password=settings.notifier_smtp_password.get_secret_value() if settings.notifier_smtp_password else None,
            sender=settings.notifier_smtp_sender, timeout_s=settings.notifier_send_timeout_s,
        ) if settings.notifier_smtp_host else None
        bot = settings.notifier_slack_bot_token
        return cls(settings=settings, http=http, env=env, clock=clock, smtp=smtp,
                   slack_bot=slack_bot_client(bot.get_secret_value(), timeout_s=settings.notifier_send_timeout_s) if bot else None,
                   limits=policy.parse_throttle(settings.notifier_throttle))

    def limits_for(self, row: asyncpg.Record) -> tuple[policy.Limit, ...]:
        return self.limits.get(policy.throttle_class(row["kind"], row["address"]), ())

    async def send(self, rows: Sequence[asyncpg.Record]) -> SendResult:
        """One message for `rows` (the headline first) through the headline's contact method."""
        headline, now = rows[0], self.clock()
        try:
            address = expand(headline["address"], self.env)
        except UnsetVariable as exc:
            return SendResult.permanent(f"{headline['method']}: {exc}")
        source = headline["source"]
        shift = ShiftNotice.model_validate(headline["payload"]) if source == "shift" else None
        report = ReportPublished.model_validate(headline["payload"]) if source == "report" else None
        page = _page_of(headline) if shift is None and report is None else None
        actions = self._links(headline["incident_id"], headline["person"], now) if source in ("page", "ticket") else None
        bundled = tuple(self._bundled_ref(row, now) for row in _other_incidents(rows))
        if shift is not None:
            notice = messages.shift_notice(person=shift.person, schedule=shift.schedule, role=shift.tier,
                                           starting=shift.kind == "starting", at=shift.at, until=shift.until)
        elif report is not None:
            notice = reports.report_notice(report, person=headline["person"])
        elif source == "test":
            notice = messages.check_notice(person=headline["person"], method_label=headline["method"], at=now)
        elif source == "ticket":
            ticket = TicketRequested.model_validate(headline["payload"])
            notice = messages.ticket_notice(ticket, person=headline["person"], actions=actions)
        else:
            notice = messages.page_notice(page, bundled=bundled, actions=actions)
        timeout = self.settings.notifier_send_timeout_s
        kind = headline["kind"]
        if kind == "email":
            if self.smtp is None:
                return SendResult.permanent("no SMTP server is configured (VIGIL_NOTIFIER_SMTP_HOST)")
            mail = messages.email(notice, delivery_id=headline["id"], mail_domain=self.settings.notifier_mail_domain)
            return await send_email(self.smtp, to=address, subject=mail.subject, text=mail.text, html=mail.html,
                                    message_id=mail.message_id, thread_id=mail.thread_id, date=now)
        if kind == "webhook":
            key = self.settings.notifier_webhook_key
            if key is None:
                return SendResult.permanent("no webhook key is configured (VIGIL_NOTIFIER_WEBHOOK_KEY)")
            if shift is not None:
                body = _shift_body(shift, notice, delivery_id=headline["id"])
            elif report is not None:
                body = reports.webhook_body(report, notice, delivery_id=headline["id"])
            else:
                body = messages.webhook(page, delivery_id=headline["id"], bundled=bundled, actions=actions).model_dump_json()
            secret = derive_secret(key.get_secret_value().encode(), headline["person"], headline["method"])
            # The receiver checks the signature's timestamp against its own clock: the wall clock's,
            # not the injected one (which tests move).
            return await send_webhook(self.http, url=address, secret=secret, webhook_id=headline["id"],
                                      body=body.encode(), timestamp=datetime.now(UTC), timeout_s=timeout)
        if kind == "slack":
            message = messages.slack(notice)
            channel = slack_channel(address)
            if channel is not None:
                return await send_slack_message(self.slack_bot, channel=channel, text=message["text"],
                                                blocks=message["blocks"], timeout_s=timeout)
            return await send_slack_webhook(self.http, url=address, text=message["text"], blocks=message["blocks"],
                                            timeout_s=timeout)
        if kind == "apprise":
            title, body = messages.plain(notice)
            return await send_apprise(address, title=title, body=body, timeout_s=timeout)
        return SendResult.permanent(f"unknown contact kind {kind!r}")

    def _links(self, incident_id: int, person: str, now: datetime) -> links.ActionLinks | None:
        keys = self.settings.link_keys()
        if not keys or not self.settings.notifier_public_url:
            return None
        return links.action_links(keys[0], public_url=self.settings.notifier_public_url, incident_id=incident_id,
                                  person=person, now=now, ttl=timedelta(seconds=self.settings.notifier_link_ttl_s))

    def _bundled_ref(self, row: asyncpg.Record, now: datetime) -> messages.IncidentRef:
        page = _page_of(row)
        actions = self._links(row["incident_id"], row["person"], now)
        return messages.IncidentRef(incident_id=row["incident_id"], number=row["number"], severity=row["severity"],
                                    title=row["title"], url=page.incident.url,
                                    ack_url=actions.ack_url if actions else None)


def _page_of(row: asyncpg.Record) -> messages.Page:
    """What the message is about, from the event the delivery row keeps."""
    if row["source"] == "page":
        return messages.Page.of(PageRequested.model_validate(row["payload"]))
    incident = messages.IncidentRef(incident_id=row["incident_id"], number=row["number"], severity=row["severity"],
                                    title=row["title"])
    reason = "ticket" if row["source"] == "ticket" else "test"
    if row["source"] == "ticket":
        ticket = TicketRequested.model_validate(row["payload"])
        return messages.Page(page_id=ticket.ticket_id, incident=incident, person=row["person"], role="assignee",
                             channel="notify", reason=reason, paged_at=ticket.occurred_at)
    return messages.Page(page_id=row["source_id"], incident=incident, person=row["person"], role="primary",
                         channel="notify", reason=reason, paged_at=row["requested_at"])


def _shift_body(shift: ShiftNotice, notice: messages.Notice, *, delivery_id: str) -> str:
    """The webhook body of a shift notice (`shift.v1`): the event's fields and the words people read."""
    return json.dumps({
        "type": "shift.v1", "delivery_id": delivery_id, "notice_id": shift.notice_id, "person": shift.person,
        "schedule": shift.schedule, "tier": shift.tier, "kind": shift.kind, "at": utc_isoformat(shift.at),
        "until": utc_isoformat(shift.until) if shift.until else None, "subject": notice.subject, "summary": notice.summary,
    })


def _other_incidents(rows: Sequence[asyncpg.Record]) -> list[asyncpg.Record]:
    """One row per incident other than the headline's, in the order given."""
    seen = {rows[0]["incident_id"]}
    others = []
    for row in rows[1:]:
        if row["incident_id"] not in seen:
            seen.add(row["incident_id"])
            others.append(row)
    return others

