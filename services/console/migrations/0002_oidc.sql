-- OpenID Connect sign-in: which provider account (issuer + subject, which never change) is which
-- console person, and the sign-ins under way (the secrets the browser never sees: state, nonce and
-- the PKCE verifier, found again by the hash of a short-lived cookie, used once).

CREATE TABLE oidc_identity (
    issuer             text NOT NULL,
    subject            text NOT NULL,
    person             text NOT NULL REFERENCES person (name) ON DELETE CASCADE,
    created_at         timestamptz NOT NULL,
    last_signed_in_at  timestamptz NOT NULL,
    PRIMARY KEY (issuer, subject)
);
-- One provider account per person and provider: a second subject claiming the name is refused.
CREATE UNIQUE INDEX oidc_identity_person ON oidc_identity (issuer, person);

CREATE TABLE oidc_attempt (
    id_hash        text PRIMARY KEY,                 -- SHA-256 of the vigil_oidc cookie
    state          text NOT NULL,
    nonce          text NOT NULL,
    code_verifier  text NOT NULL,
    next_path      text NOT NULL,
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL
);
CREATE INDEX oidc_attempt_expires ON oidc_attempt (expires_at);
