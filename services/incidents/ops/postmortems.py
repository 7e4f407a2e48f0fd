"""PURE: postmortems — the draft pre-filled from a resolved incident, the 2.3 resolution checklist,
the status workflow (draft → in review → published) and the default due dates of action items.
No I/O; `now` is passed in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

PostmortemStatus = Literal["draft", "in_review", "published"]
Priority = Literal["P1", "P2", "P3"]

# The 2.3 resolution checklist: (key, section, label). `action_items_created` is derived from the
# action items linked to the incident; `postmortem_scheduled` is ticked by setting `review_at`.
CHECKLIST: list[tuple[str, str, str]] = [
    ("service_restored", "Verification", "Service restored"),
    ("metrics_normalized", "Verification", "Metrics normalized"),
    ("user_confirmation", "Verification", "User confirmation (if applicable)"),
    ("postmortem_scheduled", "Follow-up", "Postmortem scheduled"),
    ("action_items_created", "Follow-up", "Action items created"),
    ("communication_sent", "Follow-up", "Communication sent"),
]
TICKABLE = {key for key, _, _ in CHECKLIST} - {"action_items_created"}
DEFAULT_DUE_DAYS: dict[str, int] = {"P1": 7, "P2": 30, "P3": 90}
SUMMARY_PLACEHOLDER = "[2-3 sentence summary of what happened]"


class WorkflowRefused(Exception):
    """A status change the workflow does not allow (HTTP 409); the message says why."""


@dataclass(frozen=True)
class Draft:
    """What a new postmortem starts with."""

    summary: str | None
    impact: str
    duration_s: float | None
    root_cause: str | None
    resolution: str | None
    timeline: list[dict]
    author: str | None


def impact_text(incident: dict) -> str:
    """The incident's impact fields as one text (users, features, revenue, description)."""
    parts = []
    if incident.get("impact_users"):
        parts.append(f"Users affected: {incident['impact_users']}")
    if incident.get("impact_features"):
        parts.append("Features impacted: " + ", ".join(incident["impact_features"]))
    if incident.get("impact_revenue"):
        parts.append(f"Revenue impact: {incident['impact_revenue']}")
    if incident.get("impact_text"):
        parts.append(incident["impact_text"])
    return "\n".join(parts)


def draft_from_incident(incident: dict, timeline: list[dict]) -> Draft:
    """The postmortem of a resolved incident as far as the incident tells it: impact, duration from
    the first alert's start to the resolve, the timeline, root cause and resolution (fix and
    contributing factors). The summary is left for a person (None: shown as the placeholder)."""
    started, resolved = incident["started_at"], incident.get("resolved_at")
    duration = (resolved - started).total_seconds() if resolved else None
    resolution = "\n".join(
        t for t in (incident.get("fix_applied"), _labelled("Contributing factors", incident.get("contributing_factors"))) if t
    )
    return Draft(
        summary=None,
        impact=impact_text(incident),
        duration_s=duration,
        root_cause=incident.get("root_cause"),
        resolution=resolution or None,
        timeline=[{"at": t["at"].isoformat(), "text": t["text"], "actor": t.get("actor")} for t in timeline],
        author=incident.get("commander"),
    )


def _labelled(label: str, text: str | None) -> str | None:
    return f"{label}: {text}" if text else None


def checklist(ticked: dict[str, bool], *, action_items: int, review_at: datetime | None) -> list[dict]:
    """The checklist as shown: every item with whether it is done."""
    done = dict(ticked)
    done["action_items_created"] = action_items > 0
    done["postmortem_scheduled"] = bool(done.get("postmortem_scheduled")) or review_at is not None
    return [{"key": k, "section": s, "label": label, "done": bool(done.get(k))} for k, s, label in CHECKLIST]


def tick(current: dict[str, bool], changes: dict[str, bool]) -> dict[str, bool]:
    unknown = set(changes) - TICKABLE
    if unknown:
        raise WorkflowRefused(f"not tickable: {', '.join(sorted(unknown))} (tickable: {', '.join(sorted(TICKABLE))})")
    return {**current, **changes}


def change_status(current: PostmortemStatus, wanted: PostmortemStatus, *, summary: str | None, reviewers: list[str]) -> PostmortemStatus:
    """draft → in_review → published, in_review → draft; a published postmortem stays published.
    Review needs a summary; publishing needs a reviewer too."""
    if wanted == current:
        return current
    if current == "published":
        raise WorkflowRefused("the postmortem is published; it can no longer change status")
    allowed = {("draft", "in_review"), ("in_review", "published"), ("in_review", "draft")}
    if (current, wanted) not in allowed:
        raise WorkflowRefused(f"a postmortem goes draft → in_review → published; not {current} → {wanted}")
    if not (summary and summary.strip()):
        raise WorkflowRefused("write the summary before the review")
    if wanted == "published" and not reviewers:
        raise WorkflowRefused("name at least one reviewer before publishing")
    return wanted


def default_due(priority: Priority, today: date) -> date:
    return today + timedelta(days=DEFAULT_DUE_DAYS[priority])


def is_overdue(item: dict, *, today: date) -> bool:
    return item["status"] in ("open", "in_progress") and item["due_on"] < today
