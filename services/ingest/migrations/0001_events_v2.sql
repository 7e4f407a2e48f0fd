-- Ingest's own state, only for the PagerDuty Events API v2 endpoint (the Alertmanager webhook keeps
-- none): integration keys (routing keys) and, per key and dedup key, when the alert started firing.
-- Applied by shared.db.migrate into the `ingest` schema.

CREATE TABLE integration_key (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,               -- the actor of its acknowledgements, and a label
    service     text NOT NULL,               -- the `service` label of its alerts
    labels      jsonb NOT NULL DEFAULT '{}', -- more labels of its alerts (routing); they win over the payload's
    key_sha256  bytea NOT NULL UNIQUE,       -- SHA-256 of the 32-character key; the key itself is shown once
    key_hint    text NOT NULL,               -- its last 4 characters, to tell keys apart in a list
    created_at  timestamptz NOT NULL,
    created_by  text NOT NULL,
    revoked_at  timestamptz,
    revoked_by  text
);
CREATE UNIQUE INDEX integration_key_active_name ON integration_key (name) WHERE revoked_at IS NULL;

-- Events v2 names an alert by its dedup key, and a resolve carries no start time: ingest keeps the
-- start of each dedup key's current firing, so that trigger, acknowledge and resolve of one firing
-- are the same occurrence (fingerprint, starts_at) for the incident service, and a trigger after a
-- resolve starts a new one.
CREATE TABLE alert_state (
    integration_key_id uuid NOT NULL REFERENCES integration_key (id) ON DELETE CASCADE,
    dedup_key    text NOT NULL,
    started_at   timestamptz NOT NULL,
    resolved_at  timestamptz,            -- NULL while firing
    last_seen_at timestamptz NOT NULL,
    PRIMARY KEY (integration_key_id, dedup_key)
);
CREATE INDEX alert_state_resolved_at ON alert_state (resolved_at) WHERE resolved_at IS NOT NULL;
