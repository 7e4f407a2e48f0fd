-- Heartbeat monitors (dead-man's switches, docs/heartbeats.md) and the outbox their alerts leave
-- through. `due_at` is the durable timer of each monitor: the checker claims due rows with
-- FOR UPDATE SKIP LOCKED, so several ingest replicas never fire one deadline twice.

CREATE TABLE heartbeat (
    id             uuid PRIMARY KEY,
    name           text NOT NULL UNIQUE,          -- the `monitor` label of its alert
    service        text NOT NULL,                 -- the `service` label
    severity       text NOT NULL,                 -- the `severity` label
    labels         jsonb NOT NULL DEFAULT '{}',   -- more labels of its alert
    period_s       integer CHECK (period_s > 0),  -- a ping every period_s, or
    cron           text,                          -- a ping at each time of a cron expression,
    timezone       text NOT NULL DEFAULT 'UTC',   -- in this IANA zone
    grace_s        integer NOT NULL CHECK (grace_s >= 0),
    token_sha256   bytea NOT NULL,                -- SHA-256 of its ping token; the token itself is shown once
    token_hint     text NOT NULL,                 -- the token's last 4 characters
    status         text NOT NULL CHECK (status IN ('new', 'up', 'down', 'paused')),
    last_ping_at   timestamptz,
    last_start_at  timestamptz,                   -- a run started (/start) and not finished yet
    expected_at    timestamptz,                   -- the next ping is due: late after it
    due_at         timestamptz,                   -- down (the alert fires) when no ping came by then
    firing_since   timestamptz,                   -- the firing alert's start; NULL when it does not fire
    firing_reason  text,
    created_at     timestamptz NOT NULL,
    created_by     text NOT NULL,
    updated_at     timestamptz NOT NULL,
    CHECK ((period_s IS NULL) <> (cron IS NULL))
);
CREATE INDEX heartbeat_due ON heartbeat (due_at) WHERE due_at IS NOT NULL;

-- Transactional outbox (shared/outbox.py): a monitor's firing and resolved alerts are written in
-- the transaction that changes the monitor, and relayed to vigil.alerts.v1 (never lost while Kafka
-- is away; the relay retries).
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    event_id     text NOT NULL UNIQUE,
    topic        text NOT NULL,
    key          bytea,
    value        bytea NOT NULL,
    headers      text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL;
