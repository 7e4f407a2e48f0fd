-- Incidents, their alert occurrences and timeline, processed-event dedup, the outbox and
-- idempotency keys. Applied by shared.db.migrate into the `incidents` schema.

CREATE TABLE incident (
    id                   bigserial PRIMARY KEY,
    version              integer NOT NULL DEFAULT 1,
    group_key            text NOT NULL,
    title                text NOT NULL,
    severity             smallint NOT NULL CHECK (severity BETWEEN 1 AND 4),
    severity_source      text NOT NULL DEFAULT 'alerts' CHECK (severity_source IN ('alerts', 'person')),
    status               text NOT NULL CHECK (status IN ('investigating', 'mitigating', 'resolved')),
    commander            text,
    impact_users         text,
    impact_features      text[] NOT NULL DEFAULT '{}',
    impact_revenue       text,
    impact_text          text,
    detected_by          text NOT NULL CHECK (detected_by IN ('alert', 'user_report', 'monitoring')),
    labels               jsonb NOT NULL DEFAULT '{}',
    started_at           timestamptz NOT NULL,
    detected_at          timestamptz NOT NULL,
    acknowledged_at      timestamptz,
    acknowledged_by      text,
    mitigated_at         timestamptz,
    resolved_at          timestamptz,
    root_cause           text,
    contributing_factors text,
    fix_applied          text,
    status_text          text,
    next_update_at       timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
-- At most one open incident per group: concurrent consumers attaching alerts of one group race on it.
CREATE UNIQUE INDEX incident_open_group ON incident (group_key) WHERE status <> 'resolved';
CREATE INDEX incident_detected_at ON incident (detected_at DESC, id DESC);
CREATE INDEX incident_status ON incident (status, detected_at DESC);

CREATE TABLE alert_occurrence (
    fingerprint   text NOT NULL,
    starts_at     timestamptz NOT NULL,
    status        text NOT NULL CHECK (status IN ('firing', 'resolved')),
    incident_id   bigint REFERENCES incident (id),
    severity      smallint NOT NULL,
    alertname     text,
    labels        jsonb NOT NULL,
    annotations   jsonb NOT NULL,
    group_key     text NOT NULL,
    source        text NOT NULL,
    generator_url text,
    ends_at       timestamptz,
    first_seen_at timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    PRIMARY KEY (fingerprint, starts_at)
);
CREATE INDEX alert_occurrence_incident ON alert_occurrence (incident_id);

CREATE TABLE processed_event (
    event_id     text PRIMARY KEY,
    processed_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE timeline_entry (
    id          bigserial PRIMARY KEY,
    incident_id bigint NOT NULL REFERENCES incident (id),
    at          timestamptz NOT NULL,
    kind        text NOT NULL,
    text        text NOT NULL,
    actor       text,
    dedup_key   text UNIQUE
);
CREATE INDEX timeline_entry_incident ON timeline_entry (incident_id, at, id);

CREATE TABLE idempotency_key (
    key          text NOT NULL,
    principal    text NOT NULL,
    request      text NOT NULL,
    status_code  integer NOT NULL,
    response     jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (key, principal)
);

-- Transactional outbox (shared.outbox): lifecycle events are written here in the transaction of the
-- change and relayed to Kafka afterwards, so a crash between commit and produce loses nothing.
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    event_id     text NOT NULL UNIQUE,
    topic        text NOT NULL,
    key          bytea,
    value        bytea NOT NULL,
    headers      text NOT NULL,  -- JSON list of [name, value] pairs
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL;
