-- Room on every page of alert_occurrence for a newer version of its rows: a re-fired or repeated
-- alert only moves last_seen_at (no indexed column), so with space on the row's page PostgreSQL
-- updates it in place (a HOT update: no new entries in the table's three indexes, less WAL).
-- Applies to the pages written from now on; existing pages get the room as VACUUM frees them.
ALTER TABLE alert_occurrence SET (fillfactor = 80);
