-- The escalator publishes every person of a configuration version (PersonUpdated on vigil.people.v1)
-- in the transaction that stores it: new versions are published by construction. Versions stored
-- before that were not; the latest of them is published once at start, then marked.
ALTER TABLE config_version ADD COLUMN people_published boolean NOT NULL DEFAULT false;
ALTER TABLE config_version ALTER COLUMN people_published SET DEFAULT true;
