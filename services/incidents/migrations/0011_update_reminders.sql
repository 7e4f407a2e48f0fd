-- An open incident's promised next update (`next_update_at`) passing reminds its commander once per
-- promised time: one row per (incident, next_update_at) value, inserted in the transaction that puts
-- the reminder into the outbox (with several replicas the key lets one of them send it).
CREATE TABLE update_reminder (
    incident_id     bigint NOT NULL REFERENCES incident (id),
    next_update_at  timestamptz NOT NULL,
    commander       text NOT NULL,
    sent_at         timestamptz NOT NULL,
    PRIMARY KEY (incident_id, next_update_at)
);
