-- The report schedule's durable timers: one row per (report kind, period) with its due time. The
-- ticker plans the next period of each kind, claims due rows FOR UPDATE SKIP LOCKED under a lease
-- (so with several replicas one produces it, and a replica that died mid-way is taken over when the
-- lease ends), and records the outcome. The period is the key: a period is produced at most once.
CREATE TABLE report_timer (
    kind         text NOT NULL CHECK (kind IN ('daily_check', 'weekly_review', 'monthly_review')),
    period       text NOT NULL,
    due_at       timestamptz NOT NULL,
    lease_until  timestamptz,
    done_at      timestamptz,
    outcome      text CHECK (outcome IN ('produced', 'superseded', 'dropped')),
    note         text,
    PRIMARY KEY (kind, period)
);
CREATE INDEX report_timer_due ON report_timer (due_at) WHERE done_at IS NULL;
