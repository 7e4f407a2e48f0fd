-- Shift notices (vigil.shifts.v1) are deliveries too: source 'shift', source_id the notice id,
-- incident_id 0 and number '' (they concern no incident: no links, no timeline event).
ALTER TABLE delivery DROP CONSTRAINT delivery_source_check;
ALTER TABLE delivery ADD CONSTRAINT delivery_source_check CHECK (source IN ('page', 'ticket', 'test', 'shift'));
