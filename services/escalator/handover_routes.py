"""The handovers API: when each schedule's primary rotation hands over, from whom to whom (overrides
included). The incident service checks a handoff written by hand against it."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from services.escalator import repository as repo
from services.escalator import service
from services.escalator.handoffs import reach
from services.escalator.handovers import handovers
from services.escalator.oncall_config import schedule_of
from services.escalator.routes import NAMED, _config, _range, _spec
from shared.api_auth import Viewer
from shared.api_types import Instant
from shared.http_errors import error_responses
from shared.service import Connection

router = APIRouter(prefix="/api/v1", tags=["on-call"], responses=error_responses(401, 403, 422, 503))
DEFAULT_AROUND = timedelta(days=1)


class HandoverOut(BaseModel):
    schedule: str
    tier: str
    from_person: str = Field(description="The outgoing person: on call until `overlap_ends_at`.")
    to_person: str = Field(description="The incoming person: on call from `at`.")
    at: datetime
    overlap_ends_at: datetime


@router.get("/handovers", response_model=list[HandoverOut], summary="Primary handovers in a time range", responses=NAMED)
async def list_handovers(
    request: Request, _: Viewer, conn: Connection, schedule: str | None = None, start: Instant | None = None,
    end: Instant | None = None,
) -> list[HandoverOut]:
    """Every primary handover with `start <= at < end` of every schedule (or of `schedule`), in order
    of time. Default: from a day ago to a day ahead."""
    now = request.state.escalator.clock()
    start, end = _range(start or now - DEFAULT_AROUND, end or (start or now) + DEFAULT_AROUND, now, DEFAULT_AROUND)
    config = await _config(request, conn)
    specs = [_spec(config, schedule)] if schedule else list(config.schedules)
    out: list[HandoverOut] = []
    for spec in specs:
        around = reach(schedule_of(spec))
        rows = await repo.overrides(conn, spec.name, start=start - around, end=end + around)
        model = schedule_of(spec, [service.override_of(r) for r in rows])
        out += [HandoverOut(schedule=spec.name, tier=h.tier, from_person=h.from_person, to_person=h.to_person, at=h.at,
                            overlap_ends_at=h.overlap_ends_at) for h in handovers(model, start=start, end=end)]
    return sorted(out, key=lambda h: (h.at, h.schedule))
