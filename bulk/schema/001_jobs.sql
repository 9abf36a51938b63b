-- Bulk jobs of the PostgreSQL store (bulk/cluster.go). Applied once, in
-- one transaction, by the first instance that starts on the database.

-- A job: what its status shows, its counters, and its static record.
CREATE TABLE leadcheck_bulk_jobs (
    id             text PRIMARY KEY,
    caller         text NOT NULL,
    status         text NOT NULL,
    created_at     timestamptz NOT NULL,
    started_at     timestamptz,
    finished_at    timestamptz,
    expires_at     timestamptz NOT NULL,
    total_rows     integer NOT NULL,
    processed_rows integer NOT NULL DEFAULT 0,
    chunks         integer NOT NULL,
    chunks_done    integer NOT NULL DEFAULT 0,
    valid          integer NOT NULL DEFAULT 0,
    invalid        integer NOT NULL DEFAULT 0,
    risky          integer NOT NULL DEFAULT 0,
    unknown        integer NOT NULL DEFAULT 0,
    country_needed integer NOT NULL DEFAULT 0,
    -- bytes stored for the job (chunk inputs, then results), for the
    -- per-key budget
    stored_bytes   bigint NOT NULL DEFAULT 0,
    error          text NOT NULL DEFAULT '',
    -- the job's record (bulk.record) without the fields above
    record         jsonb NOT NULL,
    -- the stored-results header (one zstd frame), the start of a download
    results_header bytea NOT NULL,
    -- the webhook's delivery state (bulk.webhookRecord), if it has one
    webhook        jsonb
);
CREATE INDEX leadcheck_bulk_jobs_caller ON leadcheck_bulk_jobs (caller, created_at DESC, id DESC);
CREATE INDEX leadcheck_bulk_jobs_expires ON leadcheck_bulk_jobs (expires_at);
CREATE INDEX leadcheck_bulk_jobs_active ON leadcheck_bulk_jobs (caller, status) WHERE status IN ('queued', 'running');

-- A chunk: consecutive rows of a job. input holds the rows as read (zstd),
-- result the stored results of those rows (one zstd frame) once done; the
-- input is dropped then.
CREATE TABLE leadcheck_bulk_chunks (
    job_id    text NOT NULL REFERENCES leadcheck_bulk_jobs (id) ON DELETE CASCADE,
    seq       integer NOT NULL,
    first_row integer NOT NULL,
    rows      integer NOT NULL,
    input     bytea,
    result    bytea,
    done_at   timestamptz,
    PRIMARY KEY (job_id, seq)
);
