-- Operations records (the operations process): postmortems and their action items, incidents
-- marked as noise, stored reports (daily checks, weekly/monthly reviews), on-call handoffs,
-- maintenance windows, runbooks, toil, reliability gaps and deployments.

CREATE TABLE postmortem (
    id            bigserial PRIMARY KEY,
    incident_id   bigint NOT NULL UNIQUE REFERENCES incident (id),
    status        text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'in_review', 'published')),
    author        text,
    reviewers     text[] NOT NULL DEFAULT '{}',
    summary       text,
    impact        text,
    duration_s    double precision,
    root_cause    text,
    resolution    text,
    timeline      jsonb NOT NULL DEFAULT '[]',   -- [{at, text}] copied from the incident, editable
    went_well     text[] NOT NULL DEFAULT '{}',
    went_poorly   text[] NOT NULL DEFAULT '{}',
    lessons       text[] NOT NULL DEFAULT '{}',
    checklist     jsonb NOT NULL DEFAULT '{}',   -- the 2.3 resolution checklist, key -> ticked
    review_at     timestamptz,                   -- the postmortem meeting, once scheduled
    published_at  timestamptz,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);

-- Which SEVs get a postmortem when they resolve (one row; admins change it through the API).
CREATE TABLE postmortem_policy (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    sevs        smallint[] NOT NULL,
    updated_by  text NOT NULL,
    updated_at  timestamptz NOT NULL
);
INSERT INTO postmortem_policy (sevs, updated_by, updated_at) VALUES ('{1,2}', 'default', now());

CREATE TABLE action_item (
    id            bigserial PRIMARY KEY,
    incident_id   bigint REFERENCES incident (id),
    postmortem_id bigint REFERENCES postmortem (id),
    title         text NOT NULL,
    owner         text NOT NULL,
    priority      text NOT NULL CHECK (priority IN ('P1', 'P2', 'P3')),
    due_on        date NOT NULL,
    status        text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'in_progress', 'done', 'wont_do')),
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    closed_at     timestamptz
);
CREATE INDEX action_item_open ON action_item (due_on) WHERE status IN ('open', 'in_progress');
CREATE INDEX action_item_incident ON action_item (incident_id);

-- A responder's verdict that an incident's alerts were false positives (the reviews' "noise").
CREATE TABLE incident_noise (
    incident_id bigint PRIMARY KEY REFERENCES incident (id),
    reason      text,
    marked_by   text NOT NULL,
    marked_at   timestamptz NOT NULL
);

-- Generated reports, one per kind and period (regenerating replaces the computed part and keeps
-- what a person wrote in `manual`).
CREATE TABLE ops_report (
    id            bigserial PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('daily_check', 'weekly_review', 'monthly_review')),
    period        text NOT NULL,                 -- 2026-12-01, 2026-W49, 2026-12
    period_start  timestamptz NOT NULL,
    period_end    timestamptz NOT NULL,
    data          jsonb NOT NULL,
    manual        jsonb NOT NULL DEFAULT '{}',
    markdown      text NOT NULL,
    generated_by  text NOT NULL,
    generated_at  timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    UNIQUE (kind, period)
);

CREATE TABLE maintenance_window (
    id          bigserial PRIMARY KEY,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL CHECK (ends_at > starts_at),
    activity    text NOT NULL,
    impact      text,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX maintenance_window_ends ON maintenance_window (ends_at);

CREATE TABLE handoff (
    id               bigserial PRIMARY KEY,
    from_person      text NOT NULL,
    to_person        text NOT NULL,
    note             text,
    things_to_watch  text[] NOT NULL DEFAULT '{}',
    data             jsonb NOT NULL,             -- open items, recent incidents, maintenance at writing
    markdown         text NOT NULL,
    created_by       text NOT NULL,
    created_at       timestamptz NOT NULL,
    acknowledged_by  text,
    acknowledged_at  timestamptz,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX handoff_created ON handoff (created_at DESC);

CREATE TABLE runbook (
    id               bigserial PRIMARY KEY,
    name             text NOT NULL UNIQUE,
    link             text,
    owner            text,
    last_updated_on  date,
    last_tested_on   date,
    last_test_result text CHECK (last_test_result IN ('pass', 'fail')),
    next_review_on   date,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);

CREATE TABLE toil (
    id                       bigserial PRIMARY KEY,
    task                     text NOT NULL,
    month                    date NOT NULL CHECK (extract(day FROM month) = 1),
    frequency                text NOT NULL CHECK (frequency IN ('daily', 'weekly', 'monthly')),
    minutes_per_occurrence   integer NOT NULL CHECK (minutes_per_occurrence > 0),
    automation_effort        text,
    monthly_savings_minutes  integer CHECK (monthly_savings_minutes >= 0),
    created_at               timestamptz NOT NULL,
    updated_at               timestamptz NOT NULL,
    UNIQUE (task, month)
);

CREATE TABLE reliability_gap (
    id           bigserial PRIMARY KEY,
    gap          text NOT NULL,
    impact       text,
    priority     text NOT NULL CHECK (priority IN ('P1', 'P2', 'P3')),
    improvement  text,
    owner        text,
    target_on    date,
    status       text NOT NULL DEFAULT 'planned' CHECK (status IN ('planned', 'in_progress', 'done')),
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);

CREATE TABLE deployment (
    id           bigserial PRIMARY KEY,
    change       text NOT NULL,
    service      text,
    deployed_at  timestamptz NOT NULL,
    status       text NOT NULL CHECK (status IN ('success', 'failed', 'rolled_back')),
    issues       text,
    recorded_by  text NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);
CREATE INDEX deployment_at ON deployment (deployed_at);
