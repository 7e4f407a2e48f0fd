-- The escalator's state: its configuration (versions), overrides, what it knows of each incident
-- (with the policy snapshot taken when it opened), timers, pages and tickets sent, processed-event
-- dedup and the outbox. Applied by shared.db.migrate into the `escalator` schema.

CREATE TABLE config_version (
    version      bigserial PRIMARY KEY,
    document     jsonb NOT NULL,
    fingerprint  text NOT NULL,
    source       text NOT NULL CHECK (source IN ('file', 'api')),
    file_hash    text,              -- sha256 of the YAML file this version was imported from
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE override (
    id           bigserial PRIMARY KEY,
    schedule     text NOT NULL,
    tier         text NOT NULL CHECK (tier IN ('primary', 'backup')),
    person       text NOT NULL,     -- '' = nobody (a deliberate hole, reported as a gap)
    start_at     timestamptz NOT NULL,
    end_at       timestamptz NOT NULL CHECK (end_at > start_at),
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX override_schedule_end ON override (schedule, end_at);

CREATE TABLE incident (
    id               bigint PRIMARY KEY,          -- the incident service's id
    number           text NOT NULL,
    version          integer NOT NULL,            -- of the latest IncidentEvent applied
    title            text NOT NULL,
    severity         smallint NOT NULL CHECK (severity BETWEEN 1 AND 4),
    status           text NOT NULL,
    acknowledged_at  timestamptz,
    acknowledged_by  text,
    labels           jsonb NOT NULL DEFAULT '{}',
    schedule         text NOT NULL,               -- routed when it opened
    policy           jsonb NOT NULL,              -- PolicyConfig snapshot taken when it opened
    ack_timed_out    boolean NOT NULL DEFAULT false,  -- the next `unacknowledged` is ours: its pages say ack-timeout
    opened_at        timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);

CREATE TABLE timer (
    id             text PRIMARY KEY,              -- PlannedStep.id: deterministic per (incident, escalation, step, repetition)
    incident_id    bigint NOT NULL REFERENCES incident (id),
    escalation     integer NOT NULL,
    step           integer NOT NULL,
    repetition     integer NOT NULL,
    role           text NOT NULL,
    action         text NOT NULL CHECK (action IN ('page', 'notify', 'ticket', 'ack_check')),
    due_at         timestamptz NOT NULL,              -- when the policy says to act (lateness is measured from it)
    fire_at        timestamptz NOT NULL,              -- when to try: due_at, later after a failed attempt
    attempts       integer NOT NULL DEFAULT 0,
    reason         text NOT NULL,
    ticket_due_at  timestamptz,
    state          text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'fired', 'cancelled')),
    outcome        text,
    fired_at       timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX timer_pending_fire ON timer (fire_at) WHERE state = 'pending';
CREATE INDEX timer_incident ON timer (incident_id);

-- One row per page or notification sent: the unique id is what makes "never twice" hold.
CREATE TABLE page (
    page_id      text PRIMARY KEY,
    timer_id     text NOT NULL REFERENCES timer (id),
    incident_id  bigint NOT NULL,
    target       text NOT NULL,
    role         text NOT NULL,
    channel      text NOT NULL,
    reason       text NOT NULL,
    due_at       timestamptz NOT NULL,
    sent_at      timestamptz NOT NULL
);
CREATE INDEX page_incident ON page (incident_id);

CREATE TABLE ticket (
    ticket_id    text PRIMARY KEY,
    timer_id     text NOT NULL REFERENCES timer (id),
    incident_id  bigint NOT NULL,
    assignee     text,
    due_at       timestamptz NOT NULL,
    sent_at      timestamptz NOT NULL
);

CREATE TABLE processed_event (
    event_id      text PRIMARY KEY,
    processed_at  timestamptz NOT NULL DEFAULT now()
);

-- Transactional outbox (shared.outbox): pages and tickets leave through it.
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
