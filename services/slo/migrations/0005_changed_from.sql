-- The earliest minute a fold changed in the hour since the evaluator last collected the hour's flag
-- (sliced = false): the evaluator keeps the short windows' sums of the minutes before a boundary a
-- few minutes back and reads a service's minutes again only when a fold changed one before it.
-- NULL (flags set before this column): the whole hour may have changed.
ALTER TABLE hour_bucket ADD COLUMN changed_from timestamptz;
