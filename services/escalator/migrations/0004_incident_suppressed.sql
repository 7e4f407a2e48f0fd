-- An incident opened inside a maintenance window's scope (IncidentEvent.suppressed): the escalator
-- plans nothing for it, and its escalation view says why.
ALTER TABLE incident ADD COLUMN suppressed boolean NOT NULL DEFAULT false;
