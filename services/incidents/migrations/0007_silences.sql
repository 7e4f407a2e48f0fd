-- Silences and maintenance windows that act (issue 20).
--
-- A silence holds every new firing alert its matchers match while it is active: the alert's
-- occurrence is stored with `suppressed_by` = the silence and no incident. When the silence ends
-- (expired, or its end passed) an alert it still holds takes the normal path (opens or joins an
-- incident): the service's silence check claims such occurrences FOR UPDATE SKIP LOCKED, so with
-- several replicas each is released once. `released_at`: the check is done with the silence.
CREATE TABLE silence (
    id          bigserial PRIMARY KEY,
    matchers    jsonb NOT NULL,                       -- [{"name", "op", "value"}], Alertmanager's operators
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL CHECK (ends_at >= starts_at),  -- expiring sets it to now
    created_by  text NOT NULL,                        -- the authenticated identity
    comment     text NOT NULL,
    created_at  timestamptz NOT NULL,
    expired_at  timestamptz,
    expired_by  text,
    released_at timestamptz
);
CREATE INDEX silence_ends ON silence (ends_at);
CREATE INDEX silence_created ON silence (created_at);
CREATE INDEX silence_to_release ON silence (ends_at) WHERE released_at IS NULL;

-- Kept after a release (the alert then also has an incident), for the weekly review's counts. No
-- foreign key: silences are never deleted, and the alert path's inserts need no lock on them. The
-- partial index holds suppressed occurrences only; no column of the hot path's updates is in it,
-- so a repeat's last_seen_at touch stays a HOT update.
ALTER TABLE alert_occurrence ADD COLUMN suppressed_by bigint;
CREATE INDEX alert_occurrence_suppressed ON alert_occurrence (suppressed_by) WHERE suppressed_by IS NOT NULL;

-- A maintenance window's scope: a service (the alert's `service` label) and/or matchers. A window
-- without either is a record only.
ALTER TABLE maintenance_window ADD COLUMN service text;
ALTER TABLE maintenance_window ADD COLUMN matchers jsonb NOT NULL DEFAULT '[]';

-- An incident opened from an alert inside a scoped maintenance window: recorded, never paged (its
-- events carry `suppressed`). The window's id (windows may be deleted: no foreign key).
ALTER TABLE incident ADD COLUMN suppressed_by_window bigint;
