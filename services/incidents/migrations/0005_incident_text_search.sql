-- The list's text filter (`q`: title, impact or root cause ILIKE '%text%') without reading every
-- incident: a trigram index per column, which the planner combines (BitmapOr) for the OR. Without
-- them a rare word read all 100,000 incidents of bench.console (a parallel sequential scan, 40-230 ms);
-- a common word still reads newest-first by id and stops at the page's end.
-- pg_trgm is a trusted extension: whoever may create the service's schema may create it. It goes to
-- the first schema of the migration's search_path (this one) unless the database has it already.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX incident_title_trgm ON incident USING gin (title gin_trgm_ops);
CREATE INDEX incident_impact_text_trgm ON incident USING gin (impact_text gin_trgm_ops);
CREATE INDEX incident_root_cause_trgm ON incident USING gin (root_cause gin_trgm_ops);
