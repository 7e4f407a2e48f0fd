"""What the SLO service's alerts say: the burn-rate and budget alerts of an evaluation, their labels
and annotations, the resolved alert, and the one log line per alert raised or resolved."""

from datetime import UTC, datetime, timedelta

import pytest
import structlog

from services.slo import service
from services.slo.alerts import Firing, Wanted, alert_event, fingerprint, slo_alert, transitions, wanted_alerts
from services.slo.definitions import DEFAULT_DEFINITIONS
from services.slo.evaluation import Evaluation

NOW = datetime(2026, 4, 15, 12, 0, 30, tzinfo=UTC)
ERROR_RATE = DEFAULT_DEFINITIONS[3]


def rule(tier: str, long_window: str, short_window: str, long_burn: float, short_burn: float) -> dict:
    return {"tier": tier, "long_window": long_window, "short_window": short_window, "long_burn": long_burn,
            "short_burn": short_burn}


BURNING = {"target": "99.9%", "budget": {"remaining_percent": 41.27},
           "burn_rates": [rule("page", "1h", "5m", 16.8, 20.0), rule("page", "6h", "30m", 7.5, 6.25),
                          rule("ticket", "1d", "2h", 3.0, 2.5), rule("ticket", "3d", "6h", 1.0, 0.8125)]}
SPENT = {"target": "< 0.1%", "budget": {"remaining_percent": -12.5}, "burn_rates": [rule("page", "1h", "5m", 0.5, 0.0)]}


@pytest.mark.parametrize(
    ("tier", "status", "summary", "description"),
    [
        ("page", BURNING, "Availability SLO of checkout: error budget burning fast (page)",
         "target 99.9%; 41.3% of the 30-day budget left; burn rates 1h/5m: 16.8x/20x, 6h/30m: 7.5x/6.25x"),
        ("ticket", BURNING, "Availability SLO of checkout: error budget burning fast (ticket)",
         "target 99.9%; 41.3% of the 30-day budget left; burn rates 1d/2h: 3x/2.5x, 3d/6h: 1x/0.8125x"),
        ("exhausted", SPENT, "Availability SLO of checkout: error budget exhausted",
         "target < 0.1%; -12.5% of the 30-day budget left"),
        ("ticket", SPENT, "Availability SLO of checkout: error budget burning fast (ticket)",
         "target < 0.1%; -12.5% of the 30-day budget left"),
    ],
)
def test_a_burn_rate_or_budget_alert_names_the_slo_its_budget_and_the_burn_of_its_own_rules(tier, status, summary, description):
    wanted = slo_alert(service="checkout", slo="availability", title="Availability", tier=tier, status=status)
    assert (wanted.service, wanted.subject, wanted.tier) == ("checkout", "availability", tier)
    assert (wanted.summary, wanted.description) == (summary, description)


def test_an_evaluation_wants_one_alert_per_firing_tier_in_tier_order():
    evaluation = Evaluation(service="api", definition=ERROR_RATE, status=BURNING, tiers={"ticket", "page"})
    assert [(w.subject, w.tier, w.summary) for w in wanted_alerts([evaluation])] == [
        ("error-rate", "page", "Error rate SLO of api: error budget burning fast (page)"),
        ("error-rate", "ticket", "Error rate SLO of api: error budget burning fast (ticket)"),
    ]
    assert wanted_alerts([Evaluation(service="api", definition=ERROR_RATE, status=BURNING, tiers=set())]) == []


@pytest.mark.parametrize(
    ("tier", "subject", "labels", "group_labels"),
    [
        ("page", "availability",
         {"alertname": "SLOBurnRatePage", "service": "api", "slo": "availability", "tier": "page", "severity": "critical",
          "source": "slo"}, {"service": "api", "slo": "availability"}),
        ("exhausted", "error-rate",
         {"alertname": "SLOErrorBudgetExhausted", "service": "api", "slo": "error-rate", "tier": "exhausted",
          "severity": "warning", "source": "slo"}, {"service": "api", "slo": "error-rate"}),
        ("capacity", "memory",
         {"alertname": "CapacityThresholdSoon", "service": "api", "resource": "memory", "tier": "capacity",
          "severity": "warning", "source": "slo"}, {"service": "api", "resource": "memory"}),
    ],
)
def test_an_alert_event_is_labelled_with_its_slo_or_resource_and_grouped_per_tier(tier, subject, labels, group_labels):
    event = alert_event(service="api", subject=subject, tier=tier, status="firing", starts_at=NOW, ends_at=None, now=NOW,
                        summary="what", description="")
    assert event.labels == labels
    assert (event.group_key, event.group_labels) == (f"slo:api:{subject}", group_labels)  # one incident per SLO
    assert event.annotations == {"summary": "what"}  # an empty description is left out
    assert event.fingerprint == fingerprint(service="api", subject=subject, tier=tier)


def test_a_fired_alert_carries_its_wording_and_a_resolved_one_says_which_alert_ended():
    started = NOW - timedelta(hours=2)
    page = Wanted("api", "availability", "page", "Availability SLO of api: error budget burning fast (page)", "target 99.9%")
    gone = Firing(fingerprint(service="web", subject="cpu", tier="capacity"), "web", "cpu", "capacity", started)
    fired, resolved = transitions(wanted=[page], firing=[gone], now=NOW)
    assert fired.event.annotations == {"summary": "Availability SLO of api: error budget burning fast (page)",
                                       "description": "target 99.9%"}
    assert resolved.event.annotations == {"summary": "CapacityThresholdSoon for web cpu resolved"}


class RecordingLog:
    """Stands in for the evaluator's logger: each line with the log context bound when it was written."""

    def __init__(self) -> None:
        self.lines: list[dict] = []

    def info(self, event: str, **fields) -> None:
        self.lines.append({"event": event, **structlog.contextvars.get_contextvars(), **fields})


def test_each_alert_raised_or_resolved_is_one_log_line_bound_to_its_slo_fingerprint_and_event_id(monkeypatch):
    log = RecordingLog()
    monkeypatch.setattr(service, "log", log)
    page = Wanted("api", "availability", "page", "s", "d")
    gone = Firing(fingerprint(service="web", subject="memory", tier="capacity"), "web", "memory", "capacity",
                  NOW - timedelta(days=1))
    fired, resolved = transitions(wanted=[page], firing=[gone], now=NOW)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(tick="kept")

    service.log_transitions([fired, resolved])

    assert log.lines == [
        {"event": "slo alert raised", "tick": "kept", "service": "api", "slo": "availability", "tier": "page",
         "fingerprint": page.fingerprint, "event_id": fired.event.event_id},
        {"event": "slo alert resolved", "tick": "kept", "service": "web", "resource": "memory", "tier": "capacity",
         "fingerprint": gone.fingerprint, "event_id": resolved.event.event_id},
    ]
    assert structlog.contextvars.get_contextvars() == {"tick": "kept"}  # the alert's fields are cleared after its line
    structlog.contextvars.clear_contextvars()
