//! Versioned schema migrations, embedded in the binary and applied at the sink's start.
//!
//! Each migration runs in its own transaction under a transaction-scoped advisory lock, so
//! several nodes starting together apply each one exactly once. Tables land in the first
//! schema of the connection's `search_path`.

use tokio_postgres::Client;

/// Key of the advisory lock the migrations take (any constant shared by every node).
const LOCK_KEY: i64 = 0x6167_656e_7469_636f; // "agentico"

/// `(version, SQL)`, in order. Never edit a released migration: add the next one.
pub const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        "CREATE TABLE agenticore_jobs (
        id uuid PRIMARY KEY,
        status text NOT NULL,
        profile text NOT NULL,
        repo_url text,
        base_ref text,
        branch text,
        node text,
        created_at timestamptz NOT NULL,
        started_at timestamptz,
        ended_at timestamptz,
        duration_seconds double precision,
        exit_code int,
        cost_usd double precision,
        input_tokens bigint,
        output_tokens bigint,
        cache_read_tokens bigint,
        cache_creation_tokens bigint,
        num_turns bigint,
        model text,
        session_id text,
        pr_url text,
        error text,
        task text NOT NULL
    );
    CREATE INDEX agenticore_jobs_ended_at ON agenticore_jobs (ended_at);
    CREATE INDEX agenticore_jobs_profile ON agenticore_jobs (profile);
    CREATE INDEX agenticore_jobs_session_id ON agenticore_jobs (session_id);",
    ),
    (
        2,
        "CREATE TABLE agenticore_otel_metrics (
        id bigserial PRIMARY KEY,
        received_at timestamptz NOT NULL DEFAULT now(),
        job_id uuid,
        session_id text,
        service_name text,
        name text NOT NULL,
        unit text,
        kind text NOT NULL,
        temporality text,
        start_time timestamptz,
        end_time timestamptz,
        value double precision,
        count bigint,
        attributes jsonb NOT NULL,
        resource jsonb NOT NULL
    );
    CREATE INDEX agenticore_otel_metrics_job ON agenticore_otel_metrics (job_id, name);
    CREATE INDEX agenticore_otel_metrics_session ON agenticore_otel_metrics (session_id);
    CREATE INDEX agenticore_otel_metrics_time ON agenticore_otel_metrics (end_time);
    CREATE TABLE agenticore_otel_events (
        id bigserial PRIMARY KEY,
        received_at timestamptz NOT NULL DEFAULT now(),
        job_id uuid,
        session_id text,
        service_name text,
        name text,
        event_time timestamptz,
        sequence bigint,
        prompt_id text,
        severity text,
        body text,
        trace_id text,
        span_id text,
        attributes jsonb NOT NULL,
        resource jsonb NOT NULL
    );
    CREATE INDEX agenticore_otel_events_job ON agenticore_otel_events (job_id, name);
    CREATE INDEX agenticore_otel_events_session ON agenticore_otel_events (session_id);
    CREATE INDEX agenticore_otel_events_time ON agenticore_otel_events (event_time);
    CREATE TABLE agenticore_otel_spans (
        id bigserial PRIMARY KEY,
        received_at timestamptz NOT NULL DEFAULT now(),
        job_id uuid,
        session_id text,
        service_name text,
        trace_id text NOT NULL,
        span_id text NOT NULL,
        parent_span_id text,
        name text NOT NULL,
        kind text NOT NULL,
        start_time timestamptz,
        end_time timestamptz,
        duration_ms double precision,
        status_code text NOT NULL,
        status_message text,
        attributes jsonb NOT NULL,
        resource jsonb NOT NULL
    );
    CREATE INDEX agenticore_otel_spans_job ON agenticore_otel_spans (job_id);
    CREATE INDEX agenticore_otel_spans_trace ON agenticore_otel_spans (trace_id);
    CREATE INDEX agenticore_otel_spans_session ON agenticore_otel_spans (session_id);",
    ),
];

/// Apply the migrations not applied yet; returns how many this call applied.
pub async fn migrate(client: &mut Client) -> Result<usize, tokio_postgres::Error> {
    let mut applied = 0;
    for (version, sql) in MIGRATIONS {
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
            .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS agenticore_schema_migrations (
                version int PRIMARY KEY,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await?;
        let done = tx
            .query_opt(
                "SELECT 1 FROM agenticore_schema_migrations WHERE version = $1",
                &[version],
            )
            .await?;
        if done.is_none() {
            tx.batch_execute(sql).await?;
            tx.execute(
                "INSERT INTO agenticore_schema_migrations (version, applied_at) VALUES ($1, now())",
                &[version],
            )
            .await?;
            applied += 1;
            tracing::info!(version, "PostgreSQL telemetry: migration applied");
        }
        tx.commit().await?;
    }
    Ok(applied)
}
