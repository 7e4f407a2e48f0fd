-- A monitor may say in its own words what its alert means (the Alertmanager Watchdog monitor:
-- "Alerting pipeline silent: …"); NULL: the default summary (docs/heartbeats.md).
ALTER TABLE heartbeat ADD COLUMN summary text;
