"""SLIs from the metrics users already have: Prometheus remote-write and OTLP series, selected by
PromQL-style series selectors and turned into per-minute increases (Prometheus' counter semantics)
that are folded into the SLO service's minute and hour buckets."""
