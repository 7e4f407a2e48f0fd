-- Hours whose time slices need recomputing are flagged by the fold (sliced = false) and cleared by
-- the evaluator (compare-and-clear on updated_at), instead of a time watermark.
ALTER TABLE hour_bucket ADD COLUMN sliced boolean NOT NULL DEFAULT false;
CREATE INDEX hour_bucket_unsliced ON hour_bucket (hour) WHERE NOT sliced;
DROP INDEX hour_bucket_updated;
DROP TABLE evaluator_mark;
