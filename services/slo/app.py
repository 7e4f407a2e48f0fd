"""The composition root of the SLO service: nothing is created at import time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import asyncpg
from fastapi import FastAPI

from services.slo import repository, routes
from services.slo.budget_policy import ErrorBudgetPolicy
from services.slo.config import SloSettings
from services.slo.consumer import consumer_loop
from services.slo.definitions import SloDefinition
from services.slo.evaluation import EvaluatorConfig
from services.slo.series import routes as series_routes
from services.slo.series.feeds import feeds_of
from services.slo.series.fold import SeriesFold
from services.slo.series.service import SeriesIngest
from services.slo.ticker import Evaluator
from shared.clock import Clock, utc_now
from shared.events import Topic
from shared.kafka import EventProducer
from shared.service import Runtime, ServiceSpec, build_app

MIGRATIONS = Path(__file__).parent / "migrations"
CE_SOURCE = "/vigil/slo"
# For a process that runs the SLO service (its entry point applies them: shared/runtime.tune_gc).
# Generation-0 collections every 1,000,000 allocations instead of 700. A poll of 24,000 events
# allocates ~300,000 objects (a dozen per event) that live about two polls (~600,000 allocations),
# and they hold no reference cycles: refcounting frees them. Below that lifetime every young
# collection walks the live polls again (with 700: decoding 2.7x slower; with 50,000 the consumer
# still spent ~15 % of its CPU there); above it most die before any collection sees them.
GC_THRESHOLDS = (1_000_000, 20, 100)

SPEC = ServiceSpec(
    name="slo", title="Vigil SLO", ce_source=CE_SOURCE, topics=(Topic.METRICS, Topic.ALERTS, Topic.BUDGETS),
    description="Error budgets kept from the metrics stream, burn-rate alerts, capacity forecasts.",
    routers=(routes.router, series_routes.router), schema=repository.SCHEMA, migrations=MIGRATIONS,
    init_connection=repository.init_connection,
)


@dataclass
class SloContext:
    pool: asyncpg.Pool
    clock: Clock
    settings: SloSettings
    definitions: tuple[SloDefinition, ...]
    producer: EventProducer
    series: SeriesIngest
    budget_policies: dict[str, ErrorBudgetPolicy] = field(default_factory=dict)  # by service or `*`


def evaluator_config(settings: SloSettings, definitions: tuple[SloDefinition, ...]) -> EvaluatorConfig:
    return EvaluatorConfig(
        definitions=definitions, zone=settings.slo_calendar_timezone, min_events=settings.slo_min_events,
        capacity_threshold=settings.slo_capacity_threshold, capacity_weeks=settings.slo_capacity_weeks,
        capacity_lead=timedelta(days=settings.slo_capacity_lead_days), retention=timedelta(days=settings.slo_retention_days),
        late_window=timedelta(seconds=settings.slo_late_event_window_s),
    )


def create_app(
    settings: SloSettings, *, clock: Clock = utc_now, run_relay: bool = True, run_evaluator: bool = True,
) -> FastAPI:
    definitions = settings.definitions()
    budget_policies = settings.budget_policies()

    async def start(rt: Runtime) -> dict:
        max_gap_ms = settings.slo_series_max_gap_s * 1000
        series = SeriesIngest(SeriesFold(feeds_of(definitions), max_gap_ms=max_gap_ms),
                              late_window=timedelta(seconds=settings.slo_late_event_window_s))
        ctx = SloContext(pool=rt.pool, clock=clock, settings=settings, definitions=definitions,
                         budget_policies=budget_policies, producer=rt.producer,
                         series=series)
        loop = consumer_loop(ctx, settings, rt.producer)
        rt.work.start(f"consume-{loop.topic}", loop.run, loop.stop)
        if run_evaluator:
            evaluator = Evaluator(rt.pool, evaluator_config(settings, definitions), clock=clock,
                                  interval_s=settings.slo_evaluate_interval_s, capacity_interval_s=settings.slo_capacity_interval_s)
            rt.work.start("slo-evaluator", evaluator.run, evaluator.stop)
        return {"slo": ctx}

    return build_app(SPEC, settings, start=start, clock=clock, run_relay=run_relay)
