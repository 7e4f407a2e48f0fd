"""Ingest: the Alertmanager webhook target. Validates, splits into alert events, produces them to
Kafka and answers 2xx only once Kafka acknowledged every one."""
