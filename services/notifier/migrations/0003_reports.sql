-- Scheduled operations reports (vigil.reports.v1) are deliveries too: source 'report', source_id
-- per (report, recipient), incident_id 0 and number '' (no links to act on, no timeline event).
ALTER TABLE delivery DROP CONSTRAINT delivery_source_check;
ALTER TABLE delivery ADD CONSTRAINT delivery_source_check CHECK (source IN ('page', 'ticket', 'test', 'shift', 'report'));
