-- Removing an override keeps the row, with who removed it and when: "who took my override away?"
-- has an answer, and the on-call history of a past week stays explainable. Every read of the
-- overrides in force skips removed rows (the partial index is the one those reads use).
ALTER TABLE override ADD COLUMN removed_at timestamptz;
ALTER TABLE override ADD COLUMN removed_by text;
DROP INDEX override_schedule_end;
CREATE INDEX override_schedule_end ON override (schedule, end_at) WHERE removed_at IS NULL;
CREATE INDEX override_removed ON override (schedule, removed_at) WHERE removed_at IS NOT NULL;
