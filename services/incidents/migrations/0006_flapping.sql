-- Flapping: since when an incident's alerts change state too often (VIGIL_INCIDENTS_FLAP_*). While
-- set, its alerts resolving and firing again change neither its status nor its escalation; the
-- flapping check clears it once the alerts are stable.
ALTER TABLE incident ADD COLUMN flapping_since timestamptz;
CREATE INDEX incident_flapping ON incident (flapping_since) WHERE flapping_since IS NOT NULL;
