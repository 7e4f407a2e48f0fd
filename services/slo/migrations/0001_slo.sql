-- Metric buckets, processed-event dedup, evaluation results, alert states and the outbox of the
-- SLO service. Applied by shared.db.migrate into the `slo` schema.

-- Adds two cumulative histograms stored as {"<le>": count} objects.
CREATE FUNCTION merge_counts(a jsonb, b jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(jsonb_object_agg(key, total), '{}'::jsonb)
    FROM (SELECT key, sum(value::bigint) AS total
          FROM (SELECT * FROM jsonb_each_text(a) UNION ALL SELECT * FROM jsonb_each_text(b)) AS both_sides
          GROUP BY key) AS summed
$$;

CREATE TABLE minute_bucket (
    service        text NOT NULL,
    minute         timestamptz NOT NULL,
    requests       bigint NOT NULL,
    errors         bigint NOT NULL,
    events         integer NOT NULL,
    latency        jsonb NOT NULL,
    cpu_sum        double precision NOT NULL DEFAULT 0,
    cpu_n          integer NOT NULL DEFAULT 0,
    memory_sum     double precision NOT NULL DEFAULT 0,
    memory_n       integer NOT NULL DEFAULT 0,
    storage_sum    double precision NOT NULL DEFAULT 0,
    storage_n      integer NOT NULL DEFAULT 0,
    network_sum    double precision NOT NULL DEFAULT 0,
    network_n      integer NOT NULL DEFAULT 0,
    PRIMARY KEY (service, minute)
);
CREATE INDEX minute_bucket_minute ON minute_bucket (minute);

-- The same sums per hour, kept in the transaction that folds the minutes (long windows read these).
CREATE TABLE hour_bucket (
    service        text NOT NULL,
    hour           timestamptz NOT NULL,
    requests       bigint NOT NULL,
    errors         bigint NOT NULL,
    events         integer NOT NULL,
    latency        jsonb NOT NULL,
    cpu_sum        double precision NOT NULL DEFAULT 0,
    cpu_n          integer NOT NULL DEFAULT 0,
    memory_sum     double precision NOT NULL DEFAULT 0,
    memory_n       integer NOT NULL DEFAULT 0,
    storage_sum    double precision NOT NULL DEFAULT 0,
    storage_n      integer NOT NULL DEFAULT 0,
    network_sum    double precision NOT NULL DEFAULT 0,
    network_n      integer NOT NULL DEFAULT 0,
    updated_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (service, hour)
);
CREATE INDEX hour_bucket_hour ON hour_bucket (hour);
CREATE INDEX hour_bucket_updated ON hour_bucket (updated_at);

CREATE TABLE processed_event (
    event_id       text PRIMARY KEY,
    interval_start timestamptz NOT NULL
);
CREATE INDEX processed_event_interval ON processed_event (interval_start);

-- Bad minutes per time-slice SLO and hour, recomputed by the evaluator for hours that changed.
CREATE TABLE slice_hour (
    slo         text NOT NULL,
    service     text NOT NULL,
    hour        timestamptz NOT NULL,
    bad_minutes integer NOT NULL,
    PRIMARY KEY (slo, service, hour)
);

-- The evaluator's latest result per SLO and service (what the API lists).
CREATE TABLE slo_status (
    service      text NOT NULL,
    slo          text NOT NULL,
    evaluated_at timestamptz NOT NULL,
    status       jsonb NOT NULL,
    PRIMARY KEY (service, slo)
);

CREATE TABLE capacity_status (
    service      text NOT NULL,
    resource     text NOT NULL,
    evaluated_at timestamptz NOT NULL,
    status       jsonb NOT NULL,
    PRIMARY KEY (service, resource)
);

-- One row per alert Vigil raised (fingerprint per SLO or resource and tier): firing or resolved.
CREATE TABLE alert_state (
    fingerprint text PRIMARY KEY,
    service     text NOT NULL,
    subject     text NOT NULL,
    tier        text NOT NULL,
    status      text NOT NULL CHECK (status IN ('firing', 'resolved')),
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE evaluator_mark (
    name  text PRIMARY KEY,
    at    timestamptz NOT NULL
);

-- Transactional outbox (shared.outbox): alert events are written here with the alert state change.
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    event_id     text NOT NULL UNIQUE,
    topic        text NOT NULL,
    key          bytea,
    value        bytea NOT NULL,
    headers      text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL;
