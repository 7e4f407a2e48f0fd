"""The HTTP API of the incident service, against the real service (uvicorn), the real broker and a
real PostgreSQL: the auth/role matrix generated from the app's own OpenAPI and routes, error
statuses and bodies, the full lifecycle with its timeline and lifecycle events, Idempotency-Key,
and listing with filters and cursor pagination."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from fastapi import FastAPI

from shared.api_auth import RANK
from shared.events import IncidentEvent, Topic, decode
from tests.services import TOKENS
from tests.support import TopicCursor, wait_for

pytestmark = pytest.mark.integration

API = "/api/v1"
# The name a token (tests.services.TOKENS) acts under when a body does not say `by`
# (`shared.api_auth.authenticate`: "<role>-token-<position in api_tokens>").
ACTOR = {"viewer": "viewer-token-1", "responder": "responder-token-2", "admin": "admin-token-3"}
ROLES = sorted(RANK, key=RANK.__getitem__)  # viewer < responder < admin
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
# What exists today under /api/v1: 4 reads and 11 changes. The matrix must never check fewer.
MIN_OPERATIONS = 15
MIN_STATE_CHANGING = 11
# A path naming a silence names the module's first one (made by the `api` fixture), and a new
# silence needs matchers and an end the schema alone cannot make valid.
SILENCE = "1"
HANDOFF = "1"
BODIES = {("POST", f"{API}/silences"): lambda: {
    "matchers": ["service=api-matrix"], "ends_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(), "comment": "matrix"}}


# --------------------------------------------------------------------------------------------
# The service and its clients


@dataclass
class Api:
    app: FastAPI
    url: str
    bootstrap: str
    topic_prefix: str  # the module's: the service publishes on <prefix>vigil.incidents.v1
    clients: dict[str, httpx.Client]  # role -> client with that role's token; "anonymous" has none

    def __getitem__(self, role: str) -> httpx.Client:
        return self.clients[role]


@pytest.fixture(scope="module")
def api(running_incidents, kafka_broker, topic_prefix) -> Iterator[Api]:
    with running_incidents() as svc:
        clients = {role: svc.client(role) for role in TOKENS}
        clients["anonymous"] = svc.client(None)
        silence = clients["responder"].post(f"{API}/silences", json=BODIES[("POST", f"{API}/silences")]())
        assert silence.status_code == 201 and str(silence.json()["id"]) == SILENCE, silence.text
        handoff = clients["responder"].post(f"{API}/handoffs", json={"from_person": "ana", "to_person": "bo"})
        assert handoff.status_code == 201 and str(handoff.json()["id"]) == HANDOFF, handoff.text
        yield Api(svc.app, svc.url, kafka_broker.bootstrap_servers, topic_prefix, clients)


def run_id() -> str:
    return uuid.uuid4().hex[:10]


def declare(api: Api, role: str = "responder", **fields) -> dict:
    body = {"title": f"api test {run_id()}", "severity": 3, **fields}
    response = api[role].post(f"{API}/incidents", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def get(api: Api, ref: str | int) -> dict:
    response = api["viewer"].get(f"{API}/incidents/{ref}")
    assert response.status_code == 200, response.text
    return response.json()


def resolved_incident(api: Api) -> dict:
    incident = declare(api)
    response = api["responder"].post(f"{API}/incidents/{incident['number']}/resolve", json={"root_cause": "test"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "resolved"
    return response.json()


def ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def error_body(response: httpx.Response) -> dict:
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body, dict), body
    return body


# --------------------------------------------------------------------------------------------
# The matrix: operations from /openapi.json, required roles from the routes' dependencies


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # the OpenAPI path template, e.g. /api/v1/incidents/{ref}/acknowledge
    spec: dict

    @property
    def changes_state(self) -> bool:
        return self.method in STATE_CHANGING

    def url(self, ref: str) -> str:
        return re.sub(r"\{[^}]+\}", ref, self.path.replace("{silence}", SILENCE).replace("{handoff}", HANDOFF))

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def api_operations(spec: dict) -> list[Operation]:
    ops = []
    for path, item in spec["paths"].items():
        if not path.startswith(API + "/"):
            continue
        for method, op in item.items():
            if method.upper() in {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}:
                ops.append(Operation(method.upper(), path, op))
    return ops


def _route_entries(app: FastAPI) -> Iterator[tuple[str, set[str], object]]:
    """(full path, methods, route object with `.dependant`) of every route of `app`. FastAPI
    versions that keep included routers unflattened expose them through `iter_route_contexts`."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: include_router copies routes into app.routes
        for route in app.routes:
            yield getattr(route, "path", ""), set(getattr(route, "methods", None) or ()), route
        return
    for ctx in iter_route_contexts(app.routes):
        original = getattr(ctx, "original_route", ctx)
        yield ctx.path, set(ctx.methods or ()), original


def _roles_in(dependant) -> list[str]:
    found = []
    for dep in dependant.dependencies:
        role = getattr(dep.call, "required_role", None)
        if role is not None:
            found.append(role)
        found.extend(_roles_in(dep))
    return found


def route_roles(app: FastAPI) -> dict[tuple[str, str], str | None]:
    """(METHOD, path) -> the role its `shared.api_auth.require(role)` dependency demands (None:
    no such dependency) for every route under /api/v1."""
    roles: dict[tuple[str, str], str | None] = {}
    for path, methods, route in _route_entries(app):
        if not path.startswith(API + "/"):
            continue
        dependant = getattr(route, "dependant", None)
        found = _roles_in(dependant) if dependant is not None else []
        role = max(found, key=RANK.__getitem__) if found else None
        for method in methods - {"HEAD", "OPTIONS"}:
            roles[(method, path)] = role
    return roles


def example_body(op: Operation, components: dict) -> dict | None:
    """A minimal valid JSON body for `op` built from its request schema (required fields only)."""
    if (op.method, op.path) in BODIES:
        return BODIES[(op.method, op.path)]()
    body = op.spec.get("requestBody")
    if not body:
        return None
    schema = body["content"]["application/json"]["schema"]
    return _example(schema, components)


def _example(schema: dict, components: dict):
    if "$ref" in schema:
        return _example(components[schema["$ref"].rsplit("/", 1)[1]], components)
    for combinator in ("anyOf", "oneOf", "allOf"):
        if combinator in schema:
            options = [s for s in schema[combinator] if s.get("type") != "null"]
            return _example(options[0], components)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: _example(props[name], components) for name in schema.get("required", [])}
    if kind == "string":
        if schema.get("format") == "date-time":
            return datetime.now(UTC).isoformat()
        return "api-matrix"[: schema.get("maxLength", 64)].ljust(schema.get("minLength", 0), "x")
    if kind == "integer":
        return schema.get("minimum", 1)
    if kind == "number":
        return schema.get("minimum", 1)
    if kind == "array":
        return []
    if kind == "boolean":
        return False
    return None


def call(client: httpx.Client, op: Operation, ref: str, body) -> httpx.Response:
    return client.request(op.method, op.url(ref), json=body) if body is not None else client.request(op.method, op.url(ref))


@pytest.fixture(scope="module")
def spec(api: Api) -> dict:
    response = api["anonymous"].get("/openapi.json")
    assert response.status_code == 200
    return response.json()


@pytest.fixture(scope="module")
def operations(spec) -> list[Operation]:
    ops = api_operations(spec)
    assert len(ops) >= MIN_OPERATIONS, [str(o) for o in ops]
    assert sum(o.changes_state for o in ops) >= MIN_STATE_CHANGING, [str(o) for o in ops]
    return ops


def test_the_openapi_and_the_routes_agree_and_every_api_route_needs_a_role(api, operations):
    roles = route_roles(api.app)
    assert len(roles) >= MIN_OPERATIONS
    assert {(o.method, o.path) for o in operations} == set(roles), "every /api/v1 route is in /openapi.json and back"
    unprotected = [key for key, role in roles.items() if role is None]
    assert unprotected == [], f"routes without a require(role) dependency: {unprotected}"
    for op in operations:
        role = roles[(op.method, op.path)]
        if op.changes_state:
            assert RANK[role] > RANK["viewer"], f"{op} changes state but a viewer may call it"
        else:
            assert role == "viewer", f"{op} is a read; a viewer should be able to call it"


def test_without_a_valid_token_every_operation_is_401(api, operations, spec):
    incident = declare(api)
    ref = incident["number"]
    components = spec.get("components", {}).get("schemas", {})
    bad_headers = {
        "no header": {},
        "wrong token": {"Authorization": "Bearer not-a-token-of-this-service"},
        "a valid token with another scheme": {"Authorization": f"Basic {TOKENS['admin']}"},
        "a valid token with a suffix": {"Authorization": f"Bearer {TOKENS['admin']}x"},
        "a prefix of a valid token": {"Authorization": f"Bearer {TOKENS['admin'][:-1]}"},
        "Bearer without a token": {"Authorization": "Bearer"},
    }
    checked = 0
    for op in operations:
        body = example_body(op, components)
        for case, headers in bad_headers.items():
            response = api["anonymous"].request(op.method, op.url(ref), json=body, headers=headers)
            assert response.status_code == 401, f"{op} with {case}: {response.status_code} {response.text}"
            assert error_body(response)["error"] == "unauthorized", f"{op} with {case}"
            assert "token" in response.json()["message"]
            assert response.headers.get("www-authenticate", "").startswith("Bearer"), f"{op} with {case}"
        checked += 1
    assert checked >= MIN_OPERATIONS
    after = get(api, ref)
    assert after["version"] == incident["version"] and len(after["timeline"]) == 1, "a refused call changed the incident"


def test_a_viewer_reads_everything_and_changes_nothing(api, operations, spec):
    incident = declare(api)
    ref = incident["number"]
    roles = route_roles(api.app)
    components = spec.get("components", {}).get("schemas", {})
    reads = changes = 0
    for op in operations:
        response = call(api["viewer"], op, ref, example_body(op, components))
        if op.changes_state:
            needed = roles[(op.method, op.path)]
            assert response.status_code == 403, f"{op} as viewer: {response.status_code} {response.text}"
            body = error_body(response)
            assert body["error"] == "forbidden"
            assert f"needs the {needed} role" in body["message"], f"{op}: {body}"
            changes += 1
        else:
            assert response.status_code == 200, f"{op} as viewer: {response.status_code} {response.text}"
            reads += 1
    assert changes >= MIN_STATE_CHANGING and reads + changes >= MIN_OPERATIONS
    after = get(api, ref)
    assert after["version"] == incident["version"] and len(after["timeline"]) == 1, "a forbidden call changed the incident"


def test_every_operation_needs_exactly_the_role_its_route_requires(api, operations, spec):
    roles = route_roles(api.app)
    components = spec.get("components", {}).get("schemas", {})
    checked = 0
    for op in operations:
        required = roles[(op.method, op.path)]
        body = example_body(op, components)
        # A fresh incident per operation, so that no earlier call decides the state it sees.
        ref = declare(api)["number"]
        for lower in ROLES[: ROLES.index(required)]:
            response = call(api[lower], op, ref, body)
            assert response.status_code == 403, f"{op} as {lower}: {response.status_code} {response.text}"
            assert f"needs the {required} role; the token has {lower}" in error_body(response)["message"]
        response = call(api[required], op, ref, body)
        # Past the auth check: success, or the handler's own answer (no such alert to attach;
        # reopening an open incident) — never an auth error, a validation error or a crash.
        assert response.status_code in (200, 201, 404, 409), f"{op} as {required}: {response.status_code} {response.text}"
        if response.status_code in (404, 409):
            assert error_body(response)["error"] in ("not_found", "conflict")
        checked += 1
    assert checked >= MIN_OPERATIONS


# --------------------------------------------------------------------------------------------
# 404, 409, 422


@pytest.mark.parametrize("ref", ["INC-999999", "999999", "abc", "INC-", "INC-1x", "-1"])
def test_unknown_incident_ids_are_404_with_a_json_body(api, ref):
    for method, path, body in [
        ("GET", "", None),
        ("GET", "/timeline", None),
        ("GET", "/alerts", None),
        ("POST", "/acknowledge", None),
        ("POST", "/reopen", None),
        ("POST", "/notes", {"text": "hello"}),
        ("PATCH", "/impact", {"text": "nothing"}),
    ]:
        client = api["admin"] if method != "GET" else api["viewer"]
        response = client.request(method, f"{API}/incidents/{ref}{path}", json=body)
        assert response.status_code == 404, f"{method} {ref}{path}: {response.status_code} {response.text}"
        payload = error_body(response)
        assert payload["error"] == "not_found"
        assert ref in payload["message"] or ref.removeprefix("INC-") in payload["message"], payload


def test_an_incident_is_found_by_number_plain_id_and_lower_case_number(api):
    incident = declare(api)
    for ref in (incident["number"], str(incident["id"]), incident["number"].lower()):
        assert get(api, ref)["id"] == incident["id"]


@pytest.mark.parametrize(
    ("path", "body", "role", "reason"),
    [
        ("/acknowledge", None, "responder", "reopen it before you acknowledge"),
        ("/unacknowledge", None, "responder", "reopen it before you unacknowledge"),
        ("/status", {"status": "mitigating"}, "responder", "use reopen"),
        ("/status", {"status": "investigating"}, "responder", "use reopen"),
    ],
)
def test_changes_to_a_resolved_incident_are_409_with_the_reason(api, path, body, role, reason):
    incident = resolved_incident(api)
    response = api[role].post(f"{API}/incidents/{incident['number']}{path}", json=body)
    assert response.status_code == 409, response.text
    payload = error_body(response)
    assert payload["error"] == "conflict"
    assert incident["number"] in payload["message"] and "resolved" in payload["message"]
    assert reason in payload["message"]
    after = get(api, incident["number"])
    assert (after["version"], after["status"]) == (incident["version"], "resolved")


@pytest.mark.parametrize("status", ["investigating", "mitigating"])
def test_reopening_an_open_incident_is_409(api, status):
    incident = declare(api)
    if status == "mitigating":
        assert api["responder"].post(f"{API}/incidents/{incident['number']}/status", json={"status": status}).status_code == 200
    response = api["admin"].post(f"{API}/incidents/{incident['number']}/reopen", json={"reason": "again"})
    assert response.status_code == 409, response.text
    payload = error_body(response)
    assert payload["error"] == "conflict"
    assert payload["message"] == f"{incident['number']} is not resolved (it is {status})"
    assert get(api, incident["number"])["status"] == status


BAD_BODIES = [
    ("POST", "", {"title": "x", "severity": 7}, "severity"),
    ("POST", "", {"title": "x", "severity": 0}, "severity"),
    ("POST", "", {"title": "x", "severity": "high"}, "severity"),
    ("POST", "", {"severity": 2}, "title"),
    ("POST", "", {"title": "", "severity": 2}, "title"),
    ("POST", "", {"title": "x", "severity": 2, "colour": "red"}, "colour"),
    ("POST", "", {"title": "x", "severity": 2, "detected_by": "psychic"}, "detected_by"),
    ("POST", "", {"title": "x", "severity": 2, "started_at": "2024-01-01T00:00:00"}, "started_at"),  # no zone
    ("POST", "", {"title": "x", "severity": 2, "labels": {"team": 1}}, "team"),
    ("POST", "", [{"title": "x", "severity": 2}], "body"),
    ("POST", "/severity", {"severity": 7}, "severity"),
    ("POST", "/severity", {}, "severity"),
    ("POST", "/status", {"status": "closed"}, "status"),
    ("POST", "/status", {"status": "resolved", "root_cause": "x"}, "root_cause"),
    ("POST", "/status", {}, "status"),
    ("POST", "/commander", {"commander": ""}, "commander"),
    ("POST", "/notes", {}, "text"),
    ("POST", "/notes", {"text": "hi", "author": "me"}, "author"),
    ("POST", "/acknowledge", {"who": "me"}, "who"),
    ("POST", "/resolve", {"root_cause": 42}, "root_cause"),
    ("POST", "/reopen", {"reason": "x" * 501}, "reason"),
    ("PATCH", "/impact", {"users": "12%"}, "users"),
    ("PATCH", "/impact", {"features_impacted": "checkout"}, "features_impacted"),
    ("PATCH", "/impact", {"next_update_at": "in an hour"}, "next_update_at"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), BAD_BODIES, ids=[f"{m} {p or '/'} {f}" for m, p, _, f in BAD_BODIES])
def test_bad_bodies_are_422_and_change_nothing(api, method, path, body, field):
    incident = declare(api)
    url = f"{API}/incidents" + (f"/{incident['number']}{path}" if path else "")
    response = api["admin"].request(method, url, json=body)
    assert response.status_code == 422, response.text
    payload = error_body(response)
    assert payload["error"] == "invalid_request", payload
    assert any(field in f["field"] for f in payload["fields"]), payload  # the body names what is wrong
    after = get(api, incident["number"])
    assert after["version"] == incident["version"] and len(after["timeline"]) == 1


def test_a_body_that_is_not_json_is_422(api):
    incident = declare(api)
    response = api["responder"].post(
        f"{API}/incidents/{incident['number']}/notes", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    error_body(response)


# --------------------------------------------------------------------------------------------
# The full lifecycle, its timeline and its events


async def test_full_lifecycle_through_the_api_with_timeline_and_events(api):
    cursor = await TopicCursor.at_end(api.bootstrap, api.topic_prefix + Topic.INCIDENTS)
    responder, admin = api["responder"], api["admin"]
    run = run_id()
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    versions: dict[str, int] = {}  # event kind -> the incident version the API returned with it

    # Declare: a user report, started 10 minutes before it was declared.
    response = responder.post(f"{API}/incidents", json={
        "title": f"Checkout fails for some users {run}", "severity": 3, "description": "users report errors at payment",
        "labels": {"service": "checkout", "run": run}, "started_at": started.isoformat(), "by": "ana",
    })
    assert response.status_code == 201, response.text
    inc = response.json()
    number, iid = inc["number"], inc["id"]
    assert number == f"INC-{iid}" and re.fullmatch(r"INC-\d+", number)
    assert response.headers.get("idempotent-replayed") is None
    assert (inc["detected_by"], inc["status"], inc["severity"], inc["severity_label"]) == ("user_report", "investigating", 3, "SEV3")
    assert inc["labels"] == {"service": "checkout", "run": run}
    assert inc["impact"]["text"] == "users report errors at payment"
    detected = ts(inc["detected_at"])
    assert ts(inc["started_at"]) == started
    assert inc["time_to_detect_s"] == pytest.approx((detected - started).total_seconds())
    assert inc["time_to_detect_s"] >= 600
    assert ts(inc["response_due_at"]) == detected + timedelta(hours=1)  # SEV3
    assert inc["acknowledged_at"] is None and inc["time_to_acknowledge_s"] is None
    assert inc["response_target_met"] is None  # not acknowledged, still within the target
    assert inc["time_to_mitigate_s"] is None and inc["time_to_resolve_s"] is None
    versions["opened"] = inc["version"]

    # Acknowledge twice: the second is a no-op that still answers 200.
    first = responder.post(f"{API}/incidents/{number}/acknowledge")
    assert first.status_code == 200, first.text
    acked = first.json()
    assert acked["acknowledged_by"] == ACTOR["responder"]
    assert acked["version"] > inc["version"]
    versions["acknowledged"] = acked["version"]
    second = admin.post(f"{API}/incidents/{number}/acknowledge", json={"by": "someone else"})
    assert second.status_code == 200, second.text
    again = second.json()
    assert (again["acknowledged_at"], again["acknowledged_by"], again["version"]) == (
        acked["acknowledged_at"], acked["acknowledged_by"], acked["version"])
    ack_at = ts(acked["acknowledged_at"])
    assert acked["time_to_acknowledge_s"] == pytest.approx((ack_at - detected).total_seconds())
    assert acked["response_target_met"] is True

    # Commander (actor: the token's name), then severity (actor from `by`).
    response = admin.post(f"{API}/incidents/{number}/commander", json={"commander": "ana"})
    assert response.status_code == 200, response.text
    assert response.json()["commander"] == "ana"
    versions["commander_assigned"] = response.json()["version"]
    response = admin.post(f"{API}/incidents/{number}/severity", json={"severity": 2, "by": "ben"})
    assert response.status_code == 200, response.text
    sev = response.json()
    assert (sev["severity"], sev["severity_label"], sev["severity_source"]) == (2, "SEV2", "person")
    assert ts(sev["response_due_at"]) == detected + timedelta(minutes=15)  # SEV2
    assert sev["response_target_met"] is True
    versions["severity_changed"] = sev["version"]

    # A note: the answer is the timeline with the note last.
    response = responder.post(f"{API}/incidents/{number}/notes", json={"text": "rolled back deploy 42", "by": "carl"})
    assert response.status_code == 201, response.text
    assert response.json()[-1] == {**response.json()[-1], "kind": "note", "text": "rolled back deploy 42", "actor": "carl"}

    # Impact: a PATCH changes only what it sends.
    next_update = (datetime.now(UTC) + timedelta(minutes=30)).replace(microsecond=0)
    response = admin.patch(f"{API}/incidents/{number}/impact", json={
        "users_affected": "12%", "features_impacted": ["checkout", "refunds"], "text": "card payments fail",
        "status_text": "we are rolling back", "next_update_at": next_update.isoformat(),
    })
    assert response.status_code == 200, response.text
    first_patch = response.json()
    response = admin.patch(f"{API}/incidents/{number}/impact", json={"revenue_impact": "about 3k EUR per hour"})
    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched["impact"] == {
        "users_affected": "12%", "features_impacted": ["checkout", "refunds"],
        "revenue_impact": "about 3k EUR per hour", "text": "card payments fail",
    }
    assert patched["status_text"] == "we are rolling back"
    assert ts(patched["next_update_at"]) == next_update
    assert (patched["commander"], patched["severity"], patched["acknowledged_by"]) == ("ana", 2, ACTOR["responder"])
    assert patched["version"] > first_patch["version"] > sev["version"]

    # Mitigating, then resolved with the resolution fields.
    response = responder.post(f"{API}/incidents/{number}/status", json={"status": "mitigating"})
    assert response.status_code == 200, response.text
    mitigating = response.json()
    assert mitigating["status"] == "mitigating"
    mitigated_at = ts(mitigating["mitigated_at"])
    assert mitigating["time_to_mitigate_s"] == pytest.approx((mitigated_at - detected).total_seconds())
    versions["status_changed"] = mitigating["version"]

    response = responder.post(f"{API}/incidents/{number}/resolve", json={
        "root_cause": "a bad deploy of the payment adapter", "contributing_factors": "no canary",
        "fix_applied": "rolled back to 41", "by": "dana",
    })
    assert response.status_code == 200, response.text
    resolved = response.json()
    assert resolved["status"] == "resolved"
    assert (resolved["root_cause"], resolved["contributing_factors"], resolved["fix_applied"]) == (
        "a bad deploy of the payment adapter", "no canary", "rolled back to 41")
    assert ts(resolved["mitigated_at"]) == mitigated_at, "resolving keeps when it was mitigated"
    resolved_at = ts(resolved["resolved_at"])
    assert resolved["time_to_resolve_s"] == pytest.approx((resolved_at - detected).total_seconds())
    assert 0 <= resolved["time_to_acknowledge_s"] <= resolved["time_to_mitigate_s"] <= resolved["time_to_resolve_s"]
    assert resolved["time_to_detect_s"] == inc["time_to_detect_s"]
    assert resolved["response_target_met"] is True
    versions["resolved"] = resolved["version"]
    assert get(api, number)["time_to_resolve_s"] == resolved["time_to_resolve_s"], "stable once resolved"

    # Reopen (admin): open again, and it needs a response again.
    response = admin.post(f"{API}/incidents/{number}/reopen", json={"reason": "errors are back"})
    assert response.status_code == 200, response.text
    reopened = response.json()
    assert reopened["status"] == "investigating"
    assert reopened["resolved_at"] is None and reopened["mitigated_at"] is None
    assert reopened["acknowledged_at"] is None and reopened["acknowledged_by"] is None
    assert reopened["time_to_acknowledge_s"] is None and reopened["time_to_resolve_s"] is None
    assert reopened["response_target_met"] is None  # still within SEV2's 15 minutes
    versions["reopened"] = reopened["version"]

    # The timeline: one entry per change, in time order, with who did it.
    detail = get(api, number)
    timeline = detail["timeline"]
    assert [(t["kind"], t["actor"]) for t in timeline] == [
        ("opened", "ana"),
        ("acknowledged", ACTOR["responder"]),
        ("commander_assigned", ACTOR["admin"]),
        ("severity_changed", "ben"),
        ("note", "carl"),
        ("impact_updated", ACTOR["admin"]),
        ("impact_updated", ACTOR["admin"]),
        ("status_changed", ACTOR["responder"]),
        ("resolved", "dana"),
        ("reopened", ACTOR["admin"]),
    ]
    times = [ts(t["at"]) for t in timeline]
    assert times == sorted(times)
    assert times[0] == detected and times[1] == ack_at and times[-2] == resolved_at
    assert [t["kind"] for t in timeline].count("acknowledged") == 1
    assert "errors are back" in timeline[-1]["text"] and "SEV3 → SEV2" in timeline[3]["text"]
    assert "mitigating" in timeline[7]["text"]
    response = api["viewer"].get(f"{API}/incidents/{number}/timeline")
    assert response.status_code == 200 and response.json() == timeline
    assert detail["version"] == reopened["version"]

    # The lifecycle events on vigil.incidents.v1: each kind once, in order, keyed by the incident.
    expected_kinds = ["opened", "acknowledged", "commander_assigned", "severity_changed", "status_changed", "resolved", "reopened"]

    async def mine(settle_s: float) -> list:
        records = await cursor.read(expected=len(expected_kinds), timeout_s=2, settle_s=settle_s)
        return [(r, e) for r in records if (e := decode(IncidentEvent, r.value)).incident_id == iid]

    # The relay publishes the outbox in commit order; poll until this incident's last event is
    # there, then read once more with time to settle, so that a duplicate would be seen.
    wait_until = datetime.now(UTC) + timedelta(seconds=20)
    while len(await mine(0.1)) < len(expected_kinds) and datetime.now(UTC) < wait_until:
        pass
    events = await mine(1.0)
    assert [e.kind for _, e in events] == expected_kinds
    assert all(r.key == str(iid).encode() for r, _ in events)
    event_versions = [e.version for _, e in events]
    assert event_versions == sorted(set(event_versions)), "versions strictly increase"
    assert {e.kind: e.version for _, e in events} == versions
    assert all(e.number == number for _, e in events)
    by_kind = {e.kind: e for _, e in events}
    assert by_kind["opened"].actor == "ana" and by_kind["opened"].status == "investigating"
    assert by_kind["acknowledged"].acknowledged_by == ACTOR["responder"]
    assert by_kind["commander_assigned"].commander == "ana"
    assert by_kind["severity_changed"].severity == 2 and by_kind["severity_changed"].actor == "ben"
    assert by_kind["status_changed"].status == "mitigating"
    assert by_kind["resolved"].status == "resolved" and by_kind["resolved"].actor == "dana"
    assert by_kind["reopened"].status == "investigating" and by_kind["reopened"].acknowledged_by is None


def test_the_actor_of_a_declared_incident_defaults_to_the_token_name(api):
    incident = declare(api, role="admin")
    [opened] = get(api, incident["number"])["timeline"]
    assert (opened["kind"], opened["actor"], opened["text"]) == ("opened", ACTOR["admin"], f"declared by {ACTOR['admin']}")


# --------------------------------------------------------------------------------------------
# Idempotency-Key


def list_titled(api: Api, text: str) -> list[dict]:
    response = api["viewer"].get(f"{API}/incidents", params={"q": text, "limit": 500})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def notes_with(api: Api, ref: str, text: str) -> list[dict]:
    return [t for t in get(api, ref)["timeline"] if t["kind"] == "note" and t["text"] == text]


def test_a_retried_declare_with_the_same_key_creates_one_incident(api):
    run = run_id()
    body = {"title": f"idempotent declare {run}", "severity": 2}
    headers = {"Idempotency-Key": f"declare-{run}"}
    first = api["responder"].post(f"{API}/incidents", json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    second = api["responder"].post(f"{API}/incidents", json=body, headers=headers)
    assert second.status_code == 201, second.text
    assert second.headers.get("idempotent-replayed") == "true"
    assert second.json() == first.json()
    assert [i["id"] for i in list_titled(api, run)] == [first.json()["id"]]


def test_a_retried_note_with_the_same_key_is_added_once(api):
    ref = declare(api)["number"]
    text = f"note {run_id()}"
    headers = {"Idempotency-Key": f"note-{run_id()}"}
    first = api["responder"].post(f"{API}/incidents/{ref}/notes", json={"text": text}, headers=headers)
    second = api["responder"].post(f"{API}/incidents/{ref}/notes", json={"text": text}, headers=headers)
    assert (first.status_code, second.status_code) == (201, 201), (first.text, second.text)
    assert second.headers.get("idempotent-replayed") == "true"
    assert second.json() == first.json()
    assert len(notes_with(api, ref, text)) == 1


def test_a_retried_lifecycle_change_is_replayed_not_reapplied(api):
    ref = declare(api)["number"]
    headers = {"Idempotency-Key": f"ack-{run_id()}"}
    first = api["responder"].post(f"{API}/incidents/{ref}/acknowledge", headers=headers)
    assert first.status_code == 200, first.text
    # Between the two tries the incident is resolved: the retry must still answer what the
    # first try answered, not run the acknowledgement again (which would now be a 409).
    assert api["responder"].post(f"{API}/incidents/{ref}/resolve").status_code == 200
    second = api["responder"].post(f"{API}/incidents/{ref}/acknowledge", headers=headers)
    assert second.status_code == 200, second.text
    assert second.headers.get("idempotent-replayed") == "true"
    assert second.json() == first.json()
    assert [t["kind"] for t in get(api, ref)["timeline"]].count("acknowledged") == 1


def test_the_same_key_for_another_request_is_422(api):
    ref = declare(api)["number"]
    key = f"reuse-{run_id()}"
    first = api["responder"].post(f"{API}/incidents/{ref}/notes", json={"text": "one"}, headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    for method, path, body in [
        ("POST", f"/{ref}/notes", {"text": "two"}),  # another body
        ("POST", f"/{ref}/notes", {"text": "one", "by": "someone"}),  # another body, same text
        ("POST", f"/{ref}/acknowledge", None),  # another route
    ]:
        response = api["responder"].request(method, f"{API}/incidents{path}", json=body, headers={"Idempotency-Key": key})
        assert response.status_code == 422, f"{method} {path}: {response.text}"
        assert error_body(response)["error"] == "idempotency_key_reused"
    timeline = get(api, ref)["timeline"]
    assert [t["text"] for t in timeline if t["kind"] == "note"] == ["one"]
    assert "acknowledged" not in [t["kind"] for t in timeline]


def test_keys_belong_to_their_token(api):
    ref = declare(api)["number"]
    text = f"note {run_id()}"
    headers = {"Idempotency-Key": f"shared-{run_id()}"}
    first = api["responder"].post(f"{API}/incidents/{ref}/notes", json={"text": text}, headers=headers)
    other = api["admin"].post(f"{API}/incidents/{ref}/notes", json={"text": text}, headers=headers)
    assert (first.status_code, other.status_code) == (201, 201)
    assert "idempotent-replayed" not in other.headers
    assert [n["actor"] for n in notes_with(api, ref, text)] == [ACTOR["responder"], ACTOR["admin"]]


def test_an_overlong_key_is_422(api):
    ref = declare(api)["number"]
    response = api["responder"].post(f"{API}/incidents/{ref}/notes", json={"text": "x"}, headers={"Idempotency-Key": "k" * 201})
    assert response.status_code == 422, response.text
    assert error_body(response)["error"] == "invalid_idempotency_key"
    assert notes_with(api, ref, "x") == []


ROUNDS, TRIES = 5, 8


async def test_concurrent_retries_with_the_same_key_have_one_effect(api):
    """A client that times out and retries while the first try is still running: every try
    carries the same key, and exactly one of them may act."""
    headers = {"Authorization": f"Bearer {TOKENS['responder']}"}
    limits = httpx.Limits(max_connections=TRIES)
    async with httpx.AsyncClient(base_url=api.url, timeout=30, headers=headers, limits=limits) as client:
        for _ in range(ROUNDS):
            run = run_id()
            body = {"title": f"concurrent declare {run}", "severity": 3}
            responses = await asyncio.gather(*(
                client.post(f"{API}/incidents", json=body, headers={"Idempotency-Key": f"concurrent-{run}"})
                for _ in range(TRIES)
            ))
            assert [r.status_code for r in responses] == [201] * TRIES, [r.text for r in responses]
            assert len({r.json()["id"] for r in responses}) == 1, "concurrent tries with one key declared several incidents"
            assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == TRIES - 1
            assert len(list_titled(api, run)) == 1


# --------------------------------------------------------------------------------------------
# Listing


@pytest.fixture(scope="module")
def listed(api) -> dict:
    """Five incidents of one run: a SEV1, a mitigating SEV2, a resolved SEV3 with a root cause, a
    SEV4 with an impact text, a SEV2 — declared in that order (so ids and detected_at increase)."""
    run = run_id()
    tag = f"list-{run}"
    made = {
        "a": declare(api, title=f"{tag}: database down", severity=1),
        "b": declare(api, title=f"{tag}: 50% of checkouts fail", severity=2),
        "c": declare(api, title=f"{tag}: slow search", severity=3),
        "d": declare(api, title=f"{tag}: typo on the banner", severity=4, description=f"spelling imp-{run}"),
        "e": declare(api, title=f"{tag}: login errors", severity=2),
    }
    assert api["responder"].post(f"{API}/incidents/{made['b']['number']}/status", json={"status": "mitigating"}).status_code == 200
    response = api["responder"].post(f"{API}/incidents/{made['c']['number']}/resolve", json={"root_cause": f"missing index rc-{run}"})
    assert response.status_code == 200
    return {"run": run, "tag": tag, **made}


def listing(api: Api, **params) -> dict:
    response = api["viewer"].get(f"{API}/incidents", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def names(listed: dict, page: dict) -> str:
    by_id = {listed[k]["id"]: k for k in "abcde"}
    return "".join(by_id.get(i["id"], "?") for i in page["items"])


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, "edcba"),  # newest first
        ({"status": "mitigating"}, "b"),
        ({"status": "resolved"}, "c"),
        ({"status": ["investigating", "resolved"]}, "edca"),
        ({"severity": 2}, "eb"),
        ({"severity": [1, 3]}, "ca"),
        ({"severity": [1, 2, 3, 4]}, "edcba"),
        ({"status": "investigating", "severity": 2}, "e"),
        ({"status": "resolved", "severity": 1}, ""),
    ],
)
def test_list_filters_by_status_and_severity(api, listed, params, expected):
    page = listing(api, q=listed["tag"], limit=500, **params)
    assert names(listed, page) == expected
    assert page["next_cursor"] is None


def test_list_filters_by_text_in_title_impact_and_root_cause(api, listed):
    run, tag = listed["run"], listed["tag"]
    assert names(listed, listing(api, q=f"{tag}: slow")) == "c"
    assert names(listed, listing(api, q=f"{tag}: SLOW SEARCH")) == "c"  # case-insensitive
    assert names(listed, listing(api, q=f"rc-{run}")) == "c"  # root cause
    assert names(listed, listing(api, q=f"imp-{run}")) == "d"  # impact text (the declared description)
    assert names(listed, listing(api, q=f"{tag}: 50%")) == "b"
    # LIKE wildcards in q are literal characters.
    assert names(listed, listing(api, q=f"{tag}%")) == ""
    assert names(listed, listing(api, q=f"{tag}_")) == ""
    assert names(listed, listing(api, q=f"{tag}: 5_%")) == ""
    assert names(listed, listing(api, q=f"nothing-{run}")) == ""


def test_list_filters_by_detection_time(api, listed):
    tag, c, d = listed["tag"], listed["c"], listed["d"]
    assert names(listed, listing(api, q=tag, since=c["detected_at"])) == "edc"  # since: inclusive
    assert names(listed, listing(api, q=tag, until=c["detected_at"])) == "ba"  # until: exclusive
    assert names(listed, listing(api, q=tag, since=listed["b"]["detected_at"], until=d["detected_at"])) == "cb"
    later = ts(listed["e"]["detected_at"]) + timedelta(microseconds=1)
    assert names(listed, listing(api, q=tag, since=later.isoformat())) == ""
    # Another zone, the same instant.
    in_cest = ts(c["detected_at"]).astimezone(timezone(timedelta(hours=2)))
    assert names(listed, listing(api, q=tag, since=in_cest.isoformat())) == "edc"


@pytest.mark.parametrize("limit", [1, 2, 4, 5])
def test_pagination_walks_every_item_once_newest_first(api, listed, limit):
    seen, cursor, pages = [], None, 0
    while True:
        params = {"q": listed["tag"], "limit": limit, **({"cursor": cursor} if cursor else {})}
        page = listing(api, **params)
        pages += 1
        assert 1 <= len(page["items"]) <= limit or (pages == 1 and not page["items"])
        seen.extend(i["id"] for i in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert cursor == str(page["items"][-1]["id"])
        assert pages < 10
    expected = [listed[k]["id"] for k in "edcba"]
    assert seen == expected
    assert pages == -(-5 // limit)  # no empty last page


def test_pagination_over_everything_matches_one_big_page(api, listed):
    everything = listing(api, limit=500)
    assert everything["next_cursor"] is None, "more than 500 incidents: the test needs a bigger page walk"
    all_ids = [i["id"] for i in everything["items"]]
    assert len(all_ids) >= 5 and all_ids == sorted(all_ids, reverse=True)
    seen, cursor = [], None
    while True:
        page = listing(api, limit=7, **({"cursor": cursor} if cursor else {}))
        seen.extend(i["id"] for i in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == all_ids and len(set(seen)) == len(seen)


@pytest.mark.parametrize(
    "params",
    [
        {"status": "closed"},
        {"status": ["resolved", "bogus"]},
        {"severity": 0},
        {"severity": 5},
        {"severity": 7},
        {"severity": [2, 9]},
        {"severity": "high"},
        {"since": "yesterday"},
        {"until": "2024-13-01T00:00:00Z"},
        {"limit": 0},
        {"limit": 501},
        {"limit": "ten"},
        {"cursor": "abc"},
        {"cursor": "-1"},
        {"q": "x" * 201},
    ],
    ids=lambda p: "&".join(f"{k}={v if not isinstance(v, str) or len(v) < 20 else v[:5] + '…'}" for k, v in p.items()),
)
def test_invalid_list_filters_are_422(api, params):
    response = api["viewer"].get(f"{API}/incidents", params=params)
    assert response.status_code == 422, f"{params}: {response.status_code} {response.text[:300]}"
    body = error_body(response)
    assert body["error"] == "invalid_request", body
    assert any(next(iter(params)) in f["field"] for f in body["fields"]), body  # names the bad parameter



# ---------------------------------------------------------------------------------------------
# The open-incidents gauge


def open_sev1_gauge(api: Api) -> float | None:
    for line in api["anonymous"].get("/metrics").text.splitlines():
        if line.startswith('vigil_incidents_open{severity="1"}'):
            return float(line.split()[-1])
    return None


def open_sev1_listed(api: Api) -> int:
    params = [("status", "investigating"), ("status", "mitigating"), ("severity", "1"), ("limit", "500")]
    return len(api["viewer"].get(f"{API}/incidents", params=params).json()["items"])


def test_the_open_incidents_gauge_follows_declares_and_resolves(api):
    declared = api["responder"].post(f"{API}/incidents", json={"title": "gauge check", "severity": 1})
    assert declared.status_code == 201
    wait_for(lambda: open_sev1_gauge(api) == open_sev1_listed(api) >= 1, timeout_s=15, what="the gauge to count it")
    before = open_sev1_gauge(api)
    assert api["responder"].post(f"{API}/incidents/{declared.json()['id']}/resolve", json={}).status_code == 200
    wait_for(lambda: open_sev1_gauge(api) == open_sev1_listed(api) == before - 1, timeout_s=15, what="the gauge to drop it")
