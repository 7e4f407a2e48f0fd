-- A status is written whole at every tick and read whole by the API, never queried inside: json
-- (the text, checked) instead of jsonb (parsed into its binary form at every write).
ALTER TABLE slo_status ALTER COLUMN status TYPE json;
