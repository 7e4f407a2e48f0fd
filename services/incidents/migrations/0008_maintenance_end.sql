-- When the maintenance window that suppressed an incident ended while the incident was open: from
-- then on it is paged like any other (the check that lifts it claims rows FOR NO KEY UPDATE SKIP
-- LOCKED, so with several replicas each incident is lifted once).
ALTER TABLE incident ADD COLUMN suppression_lifted_at timestamptz;
CREATE INDEX incident_suppressed_open ON incident (suppressed_by_window)
    WHERE suppressed_by_window IS NOT NULL AND suppression_lifted_at IS NULL AND status <> 'resolved';
