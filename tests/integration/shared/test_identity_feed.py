"""Personal tokens against a running service, the real broker and PostgreSQL: a token signed with
the shared identity key works with its person's role; its revocation on vigil.identity.v1 stops it
within a second, and a service started afterwards never accepts it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer

from shared.events import TokenChanged, encode
from shared.identity import mint
from tests.support import wait_for

pytestmark = pytest.mark.integration

KEY = "identity-key-for-tests-0123456789abcdef"


async def revoke(kafka_broker, prefix: str, token_id: str, person: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers, acks="all")
    await producer.start()
    try:
        event = TokenChanged(event_id=str(uuid.uuid4()), occurred_at=datetime.now(UTC), source="test",
                             token_id=token_id, person=person, revoked=True)
        key, value, headers = encode(event, ce_source="/test")
        await producer.send_and_wait(prefix + event.topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


async def test_a_revoked_token_stops_working_everywhere(running_slo, kafka_broker, topic_prefix):
    token = mint(KEY.encode(), kind="token", person="alice", role="viewer", expires_at=None, token_id="tok-1")
    other = mint(KEY.encode(), kind="token", person="bob", role="viewer", expires_at=None, token_id="tok-2")
    with running_slo(identity_keys=KEY) as slo:
        alice = slo.client(token=token)
        assert alice.get("/api/v1/slos").status_code == 200
        assert slo.client(token=token).post("/api/v1/metrics", json={}).status_code == 403  # a viewer
        await revoke(kafka_broker, topic_prefix, "tok-1", "alice")
        wait_for(lambda: alice.get("/api/v1/slos").status_code == 401, timeout_s=5, what="the revocation applied")
        assert slo.client(token=other).get("/api/v1/slos").status_code == 200
    with running_slo(identity_keys=KEY) as again:  # reads the revocation before it is ready
        assert again.client(token=token).get("/api/v1/slos").status_code == 401
        assert again.client(token=other).get("/api/v1/slos").status_code == 200
