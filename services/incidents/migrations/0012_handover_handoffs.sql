-- The shift-change handoff flow (docs/operations.md "On-call handoffs"): a handover the escalator
-- announces (HandoverDue, vigil.handovers.v1) becomes a draft handoff, one per handover id, that the
-- outgoing person completes; the incoming person is asked to acknowledge it when the overlap starts
-- (`ack_requested_at`, once) and the team is told when the overlap ends without it (`flagged_at`,
-- once). A handoff written by hand records whether its from/to were checked against the rotation.
ALTER TABLE handoff
    ADD COLUMN handover_id       text UNIQUE,        -- NULL: written by hand (POST /handoffs)
    ADD COLUMN schedule          text,
    ADD COLUMN handover_at       timestamptz,        -- the incoming person starts
    ADD COLUMN overlap_ends_at   timestamptz,        -- the outgoing person stops: acknowledge by then
    ADD COLUMN status            text NOT NULL DEFAULT 'completed'
        CHECK (status IN ('draft', 'completed', 'acknowledged', 'flagged')),
    ADD COLUMN completed_at      timestamptz,
    ADD COLUMN ack_requested_at  timestamptz,
    ADD COLUMN flagged_at        timestamptz,
    ADD COLUMN rotation_checked  boolean,            -- NULL: before this migration
    ADD COLUMN rotation_note     text;               -- why not checked, or what the rotation said

UPDATE handoff SET status = 'acknowledged' WHERE acknowledged_at IS NOT NULL;
UPDATE handoff SET completed_at = created_at;

-- The handoff check's due rows: announced handovers not yet acknowledged nor flagged.
CREATE INDEX handoff_awaiting_ack ON handoff (handover_at)
    WHERE handover_id IS NOT NULL AND acknowledged_at IS NULL AND flagged_at IS NULL;
