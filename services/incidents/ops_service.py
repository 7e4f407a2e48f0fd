"""Units of work of postmortems and action items, inside the caller's transaction. Decisions come
from `postmortems` (pure); SQL from `ops_repository`."""

from __future__ import annotations

from datetime import date, datetime

import asyncpg

from services.incidents import ops_repository as ops
from services.incidents import repository as repo
from services.incidents.lifecycle import Entry
from services.incidents.postmortems import WorkflowRefused, change_status, default_due, draft_from_incident, tick


class NoPostmortem(Exception):
    """404: the incident has no postmortem (or there is no such incident)."""


async def open_for_resolved(conn: asyncpg.Connection, row: asyncpg.Record, *, now: datetime) -> asyncpg.Record | None:
    """Called in the transaction that resolves an incident: open its postmortem when the
    postmortem policy covers its SEV (and it has none yet, e.g. after a reopen)."""
    if row["severity"] not in await ops.postmortem_sevs(conn):
        return None
    return await open_postmortem(conn, row, now=now, reason=f"SEV{row['severity']} resolved")


async def open_postmortem(conn: asyncpg.Connection, row: asyncpg.Record, *, now: datetime, reason: str, by: str = "vigil") -> asyncpg.Record | None:
    timeline = [dict(t) for t in await repo.timeline(conn, row["id"])]
    postmortem = await ops.insert_postmortem(conn, row["id"], draft_from_incident(dict(row), timeline), now=now)
    if postmortem is not None:
        await repo.add_timeline(conn, row["id"], [Entry("postmortem", f"postmortem opened (draft): {reason}", by)], at=now)
    return postmortem


async def edit_postmortem(conn: asyncpg.Connection, incident_id: int, sent: dict, *, by: str, now: datetime) -> asyncpg.Record:
    """Apply an edit (only the fields sent); a status change goes through the workflow and is
    written into the incident's timeline. Raises `WorkflowRefused` (409), `NoPostmortem` (404)."""
    current = await conn.fetchrow(ops.GET_POSTMORTEM + " FOR UPDATE", incident_id)
    if current is None:
        raise NoPostmortem(f"INC-{incident_id} has no postmortem")
    fields = dict(current)
    if current["status"] == "published" and set(sent) - {"status"}:
        raise WorkflowRefused("the postmortem is published; it can no longer be edited")
    for key in ("author", "reviewers", "summary", "impact", "root_cause", "resolution", "went_well", "went_poorly", "lessons", "review_at"):
        if key in sent:
            fields[key] = sent[key]
    if "timeline" in sent:
        fields["timeline"] = [{"at": t["at"].isoformat(), "text": t["text"], "actor": t.get("actor")} for t in sent["timeline"]]
    if "checklist" in sent:
        fields["checklist"] = tick(current["checklist"], sent["checklist"])
    if "status" in sent:
        fields["status"] = change_status(current["status"], sent["status"], summary=fields["summary"], reviewers=fields["reviewers"])
        if fields["status"] != current["status"]:
            if fields["status"] == "published":
                fields["published_at"] = now
            text = f"postmortem {current['status']} → {fields['status']}"
            await repo.add_timeline(conn, incident_id, [Entry("postmortem", text, by)], at=now)
    return await ops.update_postmortem(conn, incident_id, fields, now=now)


async def add_action_item(
    conn: asyncpg.Connection, *, incident_id: int | None, title: str, owner: str, priority: str, due_on: date | None,
    by: str, now: datetime, today: date,
) -> asyncpg.Record:
    """A new action item, linked to the incident (and its postmortem, if any)."""
    postmortem_id = None
    if incident_id is not None:
        if await repo.get_incident_row(conn, incident_id) is None:
            raise NoPostmortem(f"no incident INC-{incident_id}")
        postmortem = await ops.get_postmortem(conn, incident_id)
        postmortem_id = postmortem["id"] if postmortem else None
    item = await ops.insert_action_item(
        conn, incident_id=incident_id, postmortem_id=postmortem_id, title=title, owner=owner, priority=priority,
        due_on=due_on or default_due(priority, today), now=now,
    )
    if incident_id is not None:
        text = f"action item #{item['id']} ({priority}, {owner}, due {item['due_on'].isoformat()}): {title}"
        await repo.add_timeline(conn, incident_id, [Entry("action_item", text, by)], at=now)
    return item


async def update_action_item(conn: asyncpg.Connection, item_id: int, sent: dict, *, now: datetime) -> asyncpg.Record | None:
    current = await conn.fetchrow(ops.GET_ACTION_ITEM + " FOR UPDATE", item_id)
    if current is None:
        return None
    fields = {**dict(current), **sent}
    if fields["status"] in ("done", "wont_do"):
        fields["closed_at"] = current["closed_at"] or now
    else:
        fields["closed_at"] = None
    return await ops.update_action_item(conn, item_id, fields, now=now)
