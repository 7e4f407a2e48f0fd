-- The reviews count the alerts that started firing in a period.
CREATE INDEX alert_occurrence_starts_at ON alert_occurrence (starts_at);
