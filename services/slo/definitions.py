"""SLO definitions: the model and the operations process's defaults (1.2). Files of them (our
YAML, an OpenSLO v1 subset) are read by `definitions_file`.

Pure. A definition with `service: "*"` applies to every service that sends metrics; one naming a
service replaces the same-named default for it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.slo.series.selectors import SelectorError, parse_selector

Indicator = Literal["success_ratio", "latency_under"]
Budgeting = Literal["occurrences", "timeslices"]
Display = Literal["percent_good", "percent_bad", "percentile_ms"]


class SloDefinitionError(ValueError):
    """A configuration file that is not a valid set of SLO definitions."""


class SloDefinition(BaseModel):
    """One objective. `success_ratio`: good = requests - errors of all requests; `latency_under`:
    good = requests answered within `threshold_ms` (a histogram bucket bound) of all measured."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=63)
    title: str
    service: str = "*"
    indicator: Indicator
    target: float = Field(gt=0, lt=1, description="Fraction of good events (or good minutes), e.g. 0.999")
    threshold_ms: float | None = Field(default=None, gt=0)
    budgeting: Budgeting = "occurrences"
    display: Display = "percent_good"
    # Series selectors (Prometheus remote-write, OTLP): the service's buckets are fed from them.
    total: str | None = Field(default=None, description="Counter selector of all requests, e.g. http_requests_total{job=\"checkout\"}")
    bad: str | None = Field(default=None, description="Counter selector of failed requests")
    good: str | None = Field(default=None, description="Counter selector of successful requests (instead of bad)")
    histogram: str | None = Field(default=None, description="Latency histogram selector (its _bucket series, by le)")

    @model_validator(mode="after")
    def _latency_has_threshold(self) -> SloDefinition:
        if (self.indicator == "latency_under") != (self.threshold_ms is not None):
            raise ValueError("threshold_ms is required for latency_under and only allowed there")
        if self.display == "percentile_ms" and self.indicator != "latency_under":
            raise ValueError("display percentile_ms needs indicator latency_under")
        self._check_selectors()
        return self

    def _check_selectors(self) -> None:
        named = {role: text for role in ("total", "bad", "good", "histogram") if (text := getattr(self, role)) is not None}
        if not named:
            return
        if self.service == "*":
            raise ValueError("an SLO with series selectors must name its service")
        for role, text in named.items():
            try:
                parse_selector(text)
            except SelectorError as exc:
                raise ValueError(f"{role}: {exc}") from None
        if self.indicator == "success_ratio" and set(named) not in ({"total", "bad"}, {"total", "good"}):
            raise ValueError("a success_ratio SLO with selectors needs total and one of bad or good (not histogram)")
        if self.indicator == "latency_under" and set(named) != {"histogram"}:
            raise ValueError("a latency_under SLO with selectors needs histogram only")

    @property
    def selectors(self) -> dict[str, str]:
        """The series selectors this SLO names, by role (empty: it reads Vigil's MetricsEvents)."""
        return {r: t for r in ("total", "bad", "good", "histogram") if (t := getattr(self, r)) is not None}

    @property
    def threshold_key(self) -> str | None:
        """The histogram bucket key (`le` in seconds) whose count is the number of good events."""
        return bucket_key(self.threshold_ms / 1000) if self.threshold_ms is not None else None

    def objective_text(self) -> str:
        """The "Target" column of the dashboard table: 99.9%, < 100ms, < 0.1%."""
        if self.display == "percentile_ms":
            return f"< {self.threshold_ms:g}ms"
        if self.display == "percent_bad":
            return f"< {percent(1 - self.target)}"
        return percent(self.target)


def percent(fraction: float) -> str:
    return f"{round(fraction * 100, 6):g}%"


def bucket_key(le_seconds: float) -> str:
    """The canonical text of a histogram bound, as buckets are stored: `0.1`, `0.5`, `+Inf`."""
    return "+Inf" if le_seconds == float("inf") else repr(float(le_seconds))


DEFAULT_DEFINITIONS: tuple[SloDefinition, ...] = (
    SloDefinition(name="availability", title="Availability", indicator="success_ratio", target=0.999,
                  budgeting="timeslices", display="percent_good"),
    SloDefinition(name="latency-p50", title="Latency (p50)", indicator="latency_under", target=0.50,
                  threshold_ms=100, display="percentile_ms"),
    SloDefinition(name="latency-p99", title="Latency (p99)", indicator="latency_under", target=0.99,
                  threshold_ms=500, display="percentile_ms"),
    SloDefinition(name="error-rate", title="Error rate", indicator="success_ratio", target=0.999,
                  display="percent_bad"),
)


def definitions_for(service: str, definitions: tuple[SloDefinition, ...]) -> list[SloDefinition]:
    """The SLOs that apply to `service`: its own, plus the `*` ones it does not override by name."""
    own = {d.name: d for d in definitions if d.service == service}
    general = [d for d in definitions if d.service == "*" and d.name not in own]
    return [*general, *own.values()]
