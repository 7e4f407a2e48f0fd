"""Benchmarks. `python -m bench.ingest_load` (what `make bench` runs) measures the ingest webhook
against a real Kafka broker; see docs/performance.md."""
