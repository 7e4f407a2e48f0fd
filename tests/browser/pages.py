"""Every page of the console, as one table: the accessibility check and the screenshots go through
all of them. A page added to the console gets a row here (its path may name what the seed made)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConsolePage:
    name: str  # also the screenshot's file name
    path: str  # str.format()ted with the seed's values: {critical}, {resolved}, {runbook}, {daily}, …
    who: str | None = "ada"  # signed in as (an admin sees every form); None: not signed in
    status: int = 200
    pictured: bool = True  # in docs/console.md (False: checked, but the same template as another row)

    def url(self, seeded: dict[str, str]) -> str:
        return self.path.format(**seeded)


PAGES = (
    ConsolePage("signin", "/signin", who=None),
    ConsolePage("incidents", "/incidents"),
    ConsolePage("incident", "/incidents/{critical}"),
    ConsolePage("incident-resolved", "/incidents/{resolved}", pictured=False),
    ConsolePage("oncall", "/oncall"),
    ConsolePage("oncall-schedule", "/oncall/platform"),
    ConsolePage("slos", "/slos"),
    ConsolePage("slo", "/slos/checkout/availability"),
    ConsolePage("slo-capacity", "/slos/capacity"),
    ConsolePage("operations", "/operations"),
    ConsolePage("reports", "/operations/reports"),
    ConsolePage("report", "/operations/reports/daily-check/{daily}"),
    ConsolePage("postmortems", "/operations/postmortems"),
    ConsolePage("postmortem", "/operations/postmortems/{resolved}"),
    ConsolePage("action-items", "/operations/action-items"),
    ConsolePage("runbooks", "/operations/runbooks"),
    ConsolePage("runbook", "/operations/runbooks/{runbook}"),
    ConsolePage("handoffs", "/operations/handoffs"),
    ConsolePage("handoff", "/operations/handoffs/{handoff}", who="alice"),  # the incoming engineer: the Acknowledge button
    ConsolePage("silences", "/silences"),
    ConsolePage("silence", "/silences/{silence}"),
    ConsolePage("silence-new", "/silences/new"),
    ConsolePage("me", "/me", who="alice"),  # in the on-call configuration: her contact methods and rules
    ConsolePage("error", "/incidents/INC-424242", status=404),
)
