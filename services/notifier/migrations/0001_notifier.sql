-- The notifier's state: its copy of people (from vigil.people.v1), what it knows of each incident
-- (acknowledged / resolved, from vigil.incidents.v1), one row per delivery (page or ticket x
-- contact method x rule step), processed-event dedup and the outbox. Applied by shared.db.migrate
-- into the `notifier` schema.

CREATE TABLE person (
    person           text PRIMARY KEY,
    revision         bigint NOT NULL,
    contact_methods  jsonb NOT NULL,
    page_rules       jsonb NOT NULL,
    notify_rules     jsonb NOT NULL,
    removed          boolean NOT NULL DEFAULT false,
    updated_at       timestamptz NOT NULL
);

CREATE TABLE incident (
    id               bigint PRIMARY KEY,
    version          integer NOT NULL,
    acknowledged_at  timestamptz,      -- NULL again after `unacknowledged`
    resolved_at      timestamptz,      -- NULL again after `reopened`
    updated_at       timestamptz NOT NULL
);

CREATE TABLE delivery (
    id               text PRIMARY KEY,               -- deterministic per (page, method, step): the idempotency key
    source           text NOT NULL CHECK (source IN ('page', 'ticket', 'test')),
    source_id        text NOT NULL,                  -- page_id, ticket_id or the test's id
    incident_id      bigint NOT NULL,
    number           text NOT NULL,
    severity         smallint NOT NULL,
    title            text NOT NULL,
    channel          text NOT NULL CHECK (channel IN ('page', 'notify')),
    person           text NOT NULL,
    method           text NOT NULL,
    kind             text NOT NULL,
    address          text NOT NULL,                  -- as configured (${NAME} filled in at sending)
    step             integer NOT NULL,
    payload          jsonb NOT NULL,                 -- the page or ticket event, to render the message
    requested_at     timestamptz NOT NULL,           -- the page's event time: latency is measured from it
    due_at           timestamptz NOT NULL,
    state            text NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'retrying', 'failed', 'cancelled')),
    next_attempt_at  timestamptz NOT NULL,
    lease_until      timestamptz,                    -- while `sending`: after it, another dispatcher takes it again
    attempts         integer NOT NULL DEFAULT 0,
    first_attempt_at timestamptz,
    answer           text,                           -- what the peer said (SMTP reply, HTTP status)
    last_error       text,
    sent_at          timestamptz,
    message_id       text,                           -- the delivery whose message carried this one (bundling)
    bundled_with     integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX delivery_due ON delivery (next_attempt_at) WHERE state IN ('pending', 'retrying', 'sending');
CREATE INDEX delivery_open_by_incident ON delivery (incident_id) WHERE state IN ('pending', 'retrying');
CREATE INDEX delivery_by_source ON delivery (source_id);
CREATE INDEX delivery_by_person ON delivery (person, requested_at);
CREATE INDEX delivery_failed ON delivery (updated_at) WHERE state = 'failed';
CREATE INDEX delivery_sent_by_recipient ON delivery (person, method, sent_at) WHERE state = 'sent' AND message_id = id;

CREATE TABLE processed_event (
    event_id      text PRIMARY KEY,
    processed_at  timestamptz NOT NULL DEFAULT now()
);

-- Transactional outbox (shared.outbox): delivery outcomes leave through it.
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
