-- The daily reminder digests (docs/operations.md "Reminders") run on the report schedule's durable
-- timers as one more kind: one row per day, produced once with several replicas.
ALTER TABLE report_timer DROP CONSTRAINT report_timer_kind_check;
ALTER TABLE report_timer ADD CONSTRAINT report_timer_kind_check
    CHECK (kind IN ('daily_check', 'weekly_review', 'monthly_review', 'reminders'));
