-- One row per on-call boundary announced (a ShiftNotice written to the outbox in the same
-- transaction). The primary key is the notice id, deterministic per (schedule, tier, person, kind,
-- boundary_at): two replicas, or a restart, announce a boundary once.
CREATE TABLE shift_notice (
    notice_id     text PRIMARY KEY,
    schedule      text NOT NULL,
    tier          text NOT NULL CHECK (tier IN ('primary', 'backup')),
    person        text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('starting', 'ending')),
    boundary_at   timestamptz NOT NULL,   -- when the person starts or stops being on call
    until_at      timestamptz,            -- starting: when that stint ends (NULL: not in sight)
    announced_at  timestamptz NOT NULL
);
