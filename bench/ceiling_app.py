"""The ceiling: the least a webhook receiver with the same guarantee has to do, on the same stack.

A minimal FastAPI app that reads the body, validates it with the same pydantic model as ingest
(`WebhookPayload.model_validate_json`), produces each alert (its JSON, keyed by fingerprint) to the
same broker with aiokafka (acks=all, idempotence on, linger 0), waits for every ack and answers
200 with the same body ingest answers. No auth, no event model, no CloudEvents headers, no
metrics, no tracing, no logging. Ingest is reported as a percentage of this.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaProducer
from fastapi import FastAPI, Request, Response
from pydantic import ValidationError

from services.ingest.schemas import WebhookPayload
from shared.kafka import ensure_topics
from shared.settings import BaseServiceSettings

CEILING_TOPIC = "bench.ceiling.v1"


def create_app(bootstrap_servers: str, *, topic: str = CEILING_TOPIC, partitions: int = 6) -> FastAPI:
    state: dict[str, AIOKafkaProducer] = {}

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        settings = BaseServiceSettings(kafka_bootstrap_servers=bootstrap_servers, topic_partitions=partitions)
        await ensure_topics(settings, [topic])
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers, acks="all", enable_idempotence=True, linger_ms=0
        )
        await producer.start()
        state["producer"] = producer
        try:
            yield
        finally:
            await producer.stop()

    app = FastAPI(title="bench ceiling", lifespan=lifespan)

    @app.post("/api/v1/webhooks/alertmanager")
    async def webhook(request: Request) -> Response:
        body = await request.body()
        try:
            payload = WebhookPayload.model_validate_json(body)
        except ValidationError:
            return Response(b'{"error":"invalid_payload"}', status_code=422, media_type="application/json")
        producer = state["producer"]
        pending = [
            await producer.send(topic, alert.model_dump_json().encode(), key=(alert.fingerprint or "").encode())
            for alert in payload.alerts
        ]
        await asyncio.gather(*pending)
        return Response(
            b'{"status":"accepted","alerts":%d}' % len(pending), media_type="application/json"
        )

    @app.get("/readyz")
    async def readyz() -> Response:
        ready = "producer" in state
        return Response(b'{"status":"ok"}' if ready else b'{"status":"unavailable"}', status_code=200 if ready else 503)

    return app
