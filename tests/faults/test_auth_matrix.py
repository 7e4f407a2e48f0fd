"""An auth matrix generated from every service's OpenAPI document (issue 17): each operation under
/api/v1 refuses a missing, wrong or malformed token with 401, and every state-changing operation
refuses a viewer with 403 — never a 2xx, never a 5xx. Ingest's webhook refuses the same with 401."""

from __future__ import annotations

import re

import pytest

from tests.services import INGEST_TOKEN, TOKENS
from tests.support import wait_for

pytestmark = pytest.mark.integration

BAD = {
    "no header": {},
    "wrong token": {"Authorization": "Bearer not-a-token-of-this-service-000"},
    "another scheme": {"Authorization": f"Basic {TOKENS['admin']}"},
    "a suffix": {"Authorization": f"Bearer {TOKENS['admin']}x"},
    "bearer without a token": {"Authorization": "Bearer"},
}
CHANGES = {"POST", "PUT", "PATCH", "DELETE"}
# Each service's minimum (today's count): the matrix must never check fewer operations.
MINIMUM = {"ingest": 17, "incidents": 58, "escalator": 13, "slo": 6, "notifier": 5, "console": 3}


@pytest.fixture(scope="module")
def services(running_ingest, running_incidents, running_escalator, running_slo, running_notifier, running_console,
             database_url):
    # Ingest with its database: integration keys and heartbeats (their API answers 503 until it is connected).
    with running_ingest(database_url=database_url) as ingest, running_incidents() as incidents, running_escalator() as escalator, \
            running_slo() as slo, running_notifier() as notifier, running_console() as console:
        wait_for(lambda: ingest.client("viewer").get("/api/v1/heartbeats").status_code == 200, what="ingest's database")
        yield {"ingest": ingest, "incidents": incidents, "escalator": escalator, "slo": slo, "notifier": notifier,
               "console": console}


def operations(running) -> list[tuple[str, str]]:
    spec = running.client(None).get("/openapi.json").json()
    ops = []
    for path, item in spec["paths"].items():
        if not path.startswith("/api/v1/") or "webhooks" in path:
            continue
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        ops += [(method.upper(), concrete) for method in item if method.upper() in {"GET", *CHANGES}]
    return ops


@pytest.mark.parametrize("service", ["ingest", "incidents", "escalator", "slo", "notifier"])
def test_every_operation_refuses_a_missing_or_bad_token_and_a_viewer_changes_nothing(services, service):
    running = services[service]
    ops = operations(running)
    assert len(ops) >= MINIMUM[service], ops
    anonymous, viewer = running.client(None), running.client("viewer")
    for method, path in ops:
        for case, headers in BAD.items():
            response = anonymous.request(method, path, json={}, headers=headers)
            assert response.status_code == 401, f"{service} {method} {path} with {case}: {response.status_code} {response.text}"
        if method in CHANGES:
            response = viewer.request(method, path, json={})
            assert response.status_code == 403, f"{service} {method} {path} as viewer: {response.status_code} {response.text}"
    print(f"\n{service}: {len(ops)} operations x {len(BAD)} bad credentials -> 401; "
          f"{sum(m in CHANGES for m, _ in ops)} state-changing -> 403 for a viewer")


def test_the_consoles_token_api_refuses_missing_and_bad_credentials(services):
    """The console's API is self-service (a viewer may make and revoke its own tokens), so the rule
    here is only: nothing without a valid credential. Its pages' forms are covered in
    tests/integration/console (session + CSRF + role)."""
    running = services["console"]
    ops = operations(running)
    assert len(ops) >= MINIMUM["console"], ops
    anonymous = running.client(None)
    for method, path in ops:
        for case, headers in BAD.items():
            response = anonymous.request(method, path, json={}, headers=headers)
            assert response.status_code == 401, f"console {method} {path} with {case}: {response.status_code} {response.text}"


def test_the_webhook_refuses_missing_and_bad_credentials(services):
    anonymous = services["ingest"].client(None)
    for case, headers in BAD.items():
        response = anonymous.post("/api/v1/webhooks/alertmanager", content=b"{}", headers=headers)
        assert response.status_code == 401, f"webhook with {case}: {response.status_code}"
    assert services["ingest"].client(token=INGEST_TOKEN).post("/api/v1/webhooks/alertmanager", content=b"{}").status_code == 422


@pytest.mark.parametrize("service", ["ingest", "incidents", "escalator", "slo", "notifier", "console"])
def test_docs_work_offline_with_an_authorize_button(services, service):
    """The OpenAPI document declares how to authenticate (Swagger UI's Authorize button), and /docs
    loads Swagger UI from the service itself (node_modules/swagger-ui-dist), from no other host."""
    anonymous = services[service].client(None)
    schemes = anonymous.get("/openapi.json").json()["components"]["securitySchemes"]
    assert any(s["type"] == "http" and s["scheme"] == "bearer" for s in schemes.values()), schemes
    page = anonymous.get("/docs")
    assert page.status_code == 200, page.text
    urls = re.findall(r'(?:src|href)="([^"]*)"', page.text)
    assert len(urls) == 3 and all(u.startswith("/docs/assets/") for u in urls), urls
    assert not re.search(r"https?://|cdn\.jsdelivr\.net", page.text), "a URL of another host in /docs"
    for url in urls:
        asset = anonymous.get(url)
        assert asset.status_code == 200 and asset.content, (url, asset.status_code)
    assert "SwaggerUIBundle" in anonymous.get(next(u for u in urls if u.endswith(".js"))).text
    assert anonymous.get("/redoc").status_code == 404  # FastAPI's ReDoc page loads from a CDN: not offered
