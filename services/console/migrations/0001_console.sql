-- The console's state: people's accounts, their console sessions, failed sign-ins (rate limiting),
-- personal API tokens, and the outbox their revocations leave through. Applied by shared.db.migrate
-- into the `console` schema.

CREATE TABLE person (
    name           text PRIMARY KEY,                 -- what timelines record: the identity every service sees
    display_name   text NOT NULL,
    role           text NOT NULL CHECK (role IN ('viewer', 'responder', 'admin')),
    password_hash  text,                             -- argon2id (PHC string); NULL: no local password
    disabled       boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);

-- The cookie holds a random id; only its SHA-256 is stored, so a copy of this table signs nobody in.
CREATE TABLE session (
    id_hash        text PRIMARY KEY,
    person         text NOT NULL REFERENCES person (name) ON DELETE CASCADE,
    csrf_token     text NOT NULL,                    -- every form of the session carries it
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    last_seen_at   timestamptz NOT NULL,
    address        text,
    user_agent     text
);
CREATE INDEX session_person ON session (person);
CREATE INDEX session_expires ON session (expires_at);

-- One row per failed sign-in; counted per account and per client address within the window.
CREATE TABLE login_failure (
    id             bigserial PRIMARY KEY,
    account        text NOT NULL,                    -- the name as typed, lower-cased
    address        text NOT NULL,
    at             timestamptz NOT NULL
);
CREATE INDEX login_failure_account ON login_failure (account, at);
CREATE INDEX login_failure_address ON login_failure (address, at);

-- Personal API tokens: the token itself is shown once; stored are its prefix and its SHA-256.
CREATE TABLE api_token (
    id             text PRIMARY KEY,                 -- the token's id, signed into it (revocation)
    person         text NOT NULL REFERENCES person (name) ON DELETE CASCADE,
    name           text NOT NULL,
    role           text NOT NULL CHECK (role IN ('viewer', 'responder', 'admin')),
    prefix         text NOT NULL,
    token_hash     text NOT NULL UNIQUE,
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz,
    revoked_at     timestamptz,
    last_used_at   timestamptz                       -- last use at the console (other services do not report)
);
CREATE INDEX api_token_person ON api_token (person, created_at);

-- Transactional outbox (shared.outbox): TokenChanged on revocation.
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
