-- One row per primary handover announced (a HandoverDue written to the outbox in the same
-- transaction). The primary key is the handover id, deterministic per (schedule, tier, at): two
-- replicas, or a restart, announce a handover once.
CREATE TABLE handover (
    handover_id      text PRIMARY KEY,
    schedule         text NOT NULL,
    tier             text NOT NULL CHECK (tier = 'primary'),
    from_person      text NOT NULL,
    to_person        text NOT NULL,
    at               timestamptz NOT NULL,   -- the incoming person starts
    overlap_ends_at  timestamptz NOT NULL,   -- the outgoing person stops
    announced_at     timestamptz NOT NULL
);
