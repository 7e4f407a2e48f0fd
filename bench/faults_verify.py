"""What the fault benchmark checks after each trial: everything accepted has its effect, once.

- every alert of a notification ingest answered 2xx is in the incident service's database, attached
  to the one incident of its group (the incident service's grouping: Alertmanager's groupKey);
- every such incident has its `opened` event on vigil.incidents.v1 (same event id if repeated);
- every incident has both its due pages on vigil.pages.v1 (primary at once, backup after the
  escalator's delay): a page repeated with its own id is a duplicate (counted, allowed: delivery is
  at least once), a second page id for the same step is a double page (a failure);
- every metrics event the broker acknowledged is folded by the SLO service (its id recorded) and the
  SLO API's event counts per service equal the sums of the folded events.

`settle` polls these until nothing is missing or the time is up; what is still missing then is lost.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import asyncpg
import httpx

from bench.faults_load import AlertsSent, MetricsSent, Tail, fingerprints, group_key

SLO_CHECKED = "error-rate"  # occurrences budgeting: total_events = requests, bad_events = errors


@dataclass
class Verdict:
    alerts: dict = field(default_factory=dict)
    incident_events: dict = field(default_factory=dict)
    pages: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    missing: int = 0  # effects not (yet) there; lost once `settle` gives up

    def as_dict(self) -> dict:
        return {"alerts": self.alerts, "incident_events": self.incident_events, "pages": self.pages,
                "metrics": self.metrics, "problems": self.problems}


OCCURRENCES = """
SELECT o.fingerprint, o.incident_id, i.group_key AS incident_group
FROM incidents.alert_occurrence o LEFT JOIN incidents.incident i ON i.id = o.incident_id
WHERE starts_with(o.fingerprint, $1)"""


async def check_alerts(conn: asyncpg.Connection, sent: AlertsSent, verdict: Verdict) -> set[int]:
    """The alerts' incidents; returns the ids of every incident the trial's alerts opened."""
    rows = await conn.fetch(OCCURRENCES, sent.tag + "-")
    found = {r["fingerprint"]: (r["incident_id"], r["incident_group"]) for r in rows}
    lost = misgrouped = 0
    incidents_of_group: dict[str, set[int]] = {}
    for request in sent.accepted():
        expected_group = group_key(request)
        for fp in fingerprints(request, sent.per_notification):
            incident_id, group = found.get(fp, (None, None))
            if incident_id is None:
                lost += 1
            elif group != expected_group:
                misgrouped += 1
    for fp, (incident_id, group) in found.items():
        if incident_id is not None:
            incidents_of_group.setdefault(group, set()).add(incident_id)
    accepted = set(sent.accepted())
    from_failed = sum(1 for fp in found if fp.rsplit("-", 1)[0] not in accepted)
    doubled = sum(1 for ids in incidents_of_group.values() if len(ids) > 1)
    verdict.alerts = {
        "accepted": len(accepted) * sent.per_notification, "in_incidents": len(accepted) * sent.per_notification - lost,
        "lost": lost, "attached_to_another_group": misgrouped, "groups": len(incidents_of_group),
        "groups_with_more_than_one_incident": doubled, "from_failed_requests": from_failed,
    }
    verdict.missing += lost
    if misgrouped:
        verdict.problems.append(f"{misgrouped} alerts attached to an incident of another group")
    if doubled:
        verdict.problems.append(f"{doubled} groups with more than one incident")
    return {i for ids in incidents_of_group.values() for i in ids}


def check_incident_events(incidents: set[int], tail: Tail, verdict: Verdict) -> None:
    ids: dict[int, set[str]] = {}
    records = 0
    for _at, (incident_id, kind, event_id) in tail.records:
        if kind == "opened" and incident_id in incidents:
            ids.setdefault(incident_id, set()).add(event_id)
            records += 1
    missing = len(incidents - ids.keys())
    twice = sum(1 for v in ids.values() if len(v) > 1)
    verdict.incident_events = {"incidents": len(incidents), "opened_on_kafka": len(ids), "missing": missing,
                               "duplicates_same_id": records - sum(len(v) for v in ids.values()),
                               "opened_twice_with_other_ids": twice}
    verdict.missing += missing
    if twice:
        verdict.problems.append(f"{twice} incidents with two different `opened` events")


def check_pages(incidents: set[int], tail: Tail, verdict: Verdict, roles: tuple[str, ...] = ("primary", "backup")) -> None:
    by_role: dict[tuple[int, str], set[str]] = {}
    records = 0
    for _at, (incident_id, page_id, role, channel, _step) in tail.records:
        if incident_id in incidents and channel == "page":
            by_role.setdefault((incident_id, role), set()).add(page_id)
            records += 1
    due = len(incidents) * len(roles)
    missing = sum(1 for i in incidents for role in roles if (i, role) not in by_role)
    double = sum(1 for ids in by_role.values() if len(ids) > 1)
    distinct = sum(len(v) for v in by_role.values())
    verdict.pages = {"due": due, "on_kafka": distinct, "missing": missing, "duplicates_same_id": records - distinct,
                     "paged_twice_with_other_ids": double}
    verdict.missing += missing
    if double:
        verdict.problems.append(f"{double} pages sent twice with different page ids")


async def check_metrics(conn: asyncpg.Connection, http: httpx.AsyncClient, sent: MetricsSent, verdict: Verdict) -> None:
    rows = await conn.fetch("SELECT event_id FROM slo.processed_event WHERE event_id = ANY($1::text[])", list(sent.events))
    folded = {r["event_id"] for r in rows}
    lost = len(sent.acked - folded)
    expected: dict[str, list[int]] = {s: [0, 0] for s in sent.services()}
    for event_id in folded:
        service, requests, errors = sent.events[event_id]
        expected[service][0] += requests
        expected[service][1] += errors
    differ = {}
    for service, (requests, errors) in expected.items():
        response = await http.get(f"/api/v1/slos/{service}/{SLO_CHECKED}")
        budget = response.json().get("budget", {}) if response.status_code == 200 else {}
        api = (budget.get("total_events"), budget.get("bad_events"))
        if api != (requests, errors):
            differ[service] = {"api": api, "folded": (requests, errors), "status": response.status_code}
    verdict.metrics = {"sent": len(sent.events), "acked": len(sent.acked), "folded": len(folded), "lost": lost,
                       "folded_unacked": len(folded - sent.acked), "api_differs": differ}
    verdict.missing += lost + len(differ)


async def verify(*, pool: asyncpg.Pool, slo_url: str, token: str, incidents_tail: Tail, pages_tail: Tail,
                 alerts: AlertsSent | None, metrics: MetricsSent | None) -> Verdict:
    verdict = Verdict()
    async with pool.acquire() as conn:
        if alerts is not None:
            incidents = await check_alerts(conn, alerts, verdict)
            check_incident_events(incidents, incidents_tail, verdict)
            check_pages(incidents, pages_tail, verdict)
        if metrics is not None:
            async with httpx.AsyncClient(base_url=slo_url, timeout=10, headers={"Authorization": f"Bearer {token}"}) as http:
                await check_metrics(conn, http, metrics, verdict)
    return verdict


async def settle(*, timeout_s: float, poll_s: float = 1.0, quiet_s: float = 1.5, **inputs) -> tuple[Verdict, float]:
    """Verify until nothing is missing (then once more after `quiet_s`, for late duplicates) or until
    `timeout_s`; what is missing then is lost. Returns the verdict and the seconds it took."""
    started = time.monotonic()
    while True:
        try:
            verdict = await verify(**inputs)
        except (OSError, asyncpg.PostgresError, httpx.HTTPError) as exc:
            verdict = Verdict(missing=1, problems=[f"verification failed: {exc!r}"])
        if verdict.missing == 0 or time.monotonic() - started > timeout_s:
            break
        await asyncio.sleep(poll_s)
    took = time.monotonic() - started
    if verdict.missing == 0:
        await asyncio.sleep(quiet_s)
        verdict = await verify(**inputs)
    if verdict.missing:
        counts = [(verdict.alerts.get("lost", 0), "accepted alerts without their incident"),
                  (verdict.incident_events.get("missing", 0), "incidents without their `opened` event"),
                  (verdict.pages.get("missing", 0), "due pages not sent"),
                  (verdict.metrics.get("lost", 0), "acknowledged metrics events not folded"),
                  (len(verdict.metrics.get("api_differs", {})), "services whose SLO API figures differ from what was folded")]
        verdict.problems.append(f"after {took:.0f} s: " + "; ".join(f"{n:,} {what}" for n, what in counts if n))
    return verdict, took
