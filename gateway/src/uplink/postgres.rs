//! PostgreSQL uplink: batched, idempotent inserts into `pbxgw_events` (and upserts into
//! `pbxgw_calls` for `call.ended`); the cursor moves after COMMIT.

use std::time::{Duration, Instant};

use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Statement};

use super::json::{event_json, record_fields};
use super::SinkContext;
use crate::calls::{CallRecord, EventBody};
use crate::config::PostgresConfig;
use crate::link::LinkState;
use crate::store::{StoreError, StoredEvent};
use crate::tls::TlsError;

pub(crate) const SINK: &str = "postgres";
pub(crate) const LINK: &str = "uplink:postgres";

struct Migration {
    version: i32,
    name: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "001_pbxgw.sql",
        sql: include_str!("../../../migrations/postgres/001_pbxgw.sql"),
    },
    Migration {
        version: 2,
        name: "002_contacts.sql",
        sql: include_str!("../../../migrations/postgres/002_contacts.sql"),
    },
    Migration {
        version: 3,
        name: "003_call_rang.sql",
        sql: include_str!("../../../migrations/postgres/003_call_rang.sql"),
    },
    Migration {
        version: 4,
        name: "004_call_charge.sql",
        sql: include_str!("../../../migrations/postgres/004_call_charge.sql"),
    },
];

/// How often the link's round trip is measured.
const PING_EVERY: Duration = Duration::from_secs(60);

/// Serializes migrations between gateways that share a database.
const MIGRATION_LOCK: i64 = 0x7062_7867_7700;

#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("PostgreSQL: {0}")]
    Db(#[from] tokio_postgres::Error),
    #[error("PostgreSQL role {role:?} lacks a privilege: run `{grant}` as the database owner")]
    MissingGrant { role: String, grant: String },
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    #[error("no connection within {0:?}")]
    ConnectTimeout(Duration),
}

impl crate::link::LinkError for PgError {
    fn needs_installer(&self) -> bool {
        match self {
            PgError::MissingGrant { .. } | PgError::Tls(_) => true,
            PgError::Db(e) => matches!(
                e.code(),
                Some(c) if *c == SqlState::INVALID_PASSWORD
                    || *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
                    || *c == SqlState::INVALID_CATALOG_NAME
            ),
            _ => false,
        }
    }
}

pub(crate) struct PostgresSink {
    config: PostgresConfig,
    pg: tokio_postgres::Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    ctx: SinkContext,
}

struct Prepared {
    events: Statement,
    calls: Statement,
}

/// How to reach the central database: its settings and the TLS connector.
fn connection_settings(
    config: &PostgresConfig,
    gateway_id: &str,
) -> Result<
    (
        tokio_postgres::Config,
        tokio_postgres_rustls::MakeRustlsConnect,
    ),
    PgError,
> {
    let url = config.url.as_ref().map(|u| u.expose()).unwrap_or_default();
    // Validated at config load; a failure here cannot show the URL (it holds a password).
    let mut pg: tokio_postgres::Config = url.parse()?;
    if !crate::config::postgres_tls_disabled(url) {
        // libpq's default `prefer` lets a man in the middle strip TLS: require it.
        pg.ssl_mode(tokio_postgres::config::SslMode::Require);
    }
    pg.connect_timeout(Duration::from_secs(15));
    pg.application_name(format!("pbxgw-{gateway_id}"));
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(crate::tls::client_config_or_plain(
        config.ca_file.as_deref(),
    )?);
    Ok((pg, tls))
}

/// One connection to the central database, for work beside the sink (checks, contact sync).
pub async fn connect(config: &PostgresConfig, gateway_id: &str) -> Result<Client, PgError> {
    let (pg, tls) = connection_settings(config, gateway_id)?;
    let (client, connection) = pg.connect(tls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "PostgreSQL connection ended");
        }
    });
    Ok(client)
}

/// `pbxgw check --connect`: connects, applies the schema (or names the missing grant).
pub async fn probe(config: &PostgresConfig, gateway_id: &str) -> Result<String, PgError> {
    let mut client = connect(config, gateway_id).await?;
    migrate(&mut client).await?;
    let version: String = client.query_one("SHOW server_version", &[]).await?.get(0);
    Ok(format!(
        "connected (PostgreSQL {version}), tables pbxgw_events and pbxgw_calls ready"
    ))
}

impl PostgresSink {
    pub fn new(config: PostgresConfig, ctx: SinkContext) -> Result<PostgresSink, PgError> {
        let (pg, tls) = connection_settings(&config, &ctx.gateway_id)?;
        Ok(PostgresSink {
            config,
            pg,
            tls,
            ctx,
        })
    }

    /// Runs until shutdown: connect, migrate, drain; on any failure reconnect with backoff.
    pub async fn run(self) {
        let ctx = self.ctx.clone();
        super::supervise(&ctx, SINK, LINK, self).await;
    }

    async fn connect(&self) -> Result<Client, PgError> {
        let (client, connection) = self.pg.connect(self.tls.clone()).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "PostgreSQL connection ended");
            }
        });
        Ok(client)
    }

    /// One connection: migrate, then drain. `Ok` means shutdown.
    async fn connection(&self, acked: &mut u64) -> Result<(), PgError> {
        let mut client = tokio::select! {
            c = self.connect() => c?,
            _ = self.ctx.shutdown.cancelled() => return Ok(()),
        };
        migrate(&mut client).await?;
        let prepared = Prepared {
            events: client.prepare(INSERT_EVENTS).await?,
            calls: client.prepare(UPSERT_CALLS).await?,
        };
        let mut committed = self.ctx.committed.clone();
        let mut pinged = self.ping(&client).await?;
        loop {
            if pinged.elapsed() >= PING_EVERY {
                pinged = self.ping(&client).await?;
            }
            let limit = self.config.batch_size;
            let waiting = super::next_batch(&self.ctx, *acked, limit, &mut committed, LINK);
            let Ok(next) = tokio::time::timeout(PING_EVERY, waiting).await else {
                continue;
            };
            let next = next?;
            let Some(batch) = next else {
                return Ok(());
            };
            let Some(last) = batch.last().map(|e| e.seq) else {
                continue;
            };
            if batch.len() == limit {
                self.ctx.links.set(
                    LINK,
                    LinkState::Connecting,
                    Some(format!("draining backlog at seq {last}")),
                );
            }
            self.write_batch(&mut client, &prepared, &batch).await?;
            *acked = last;
            self.ctx
                .appender
                .ack(SINK, last)
                .await
                .map_err(|_| StoreError::Closed)?;
            if self.ctx.shutdown.is_cancelled() {
                return Ok(());
            }
        }
    }

    /// One round trip to the server, on record for the link's quality.
    async fn ping(&self, client: &Client) -> Result<Instant, PgError> {
        let sent = Instant::now();
        let answered = client.simple_query("SELECT 1").await;
        let rtt = answered.as_ref().ok().map(|_| sent.elapsed());
        self.ctx
            .links
            .quality
            .record(LINK, rtt, crate::clock::now_ms());
        answered?;
        Ok(sent)
    }

    async fn write_batch(
        &self,
        client: &mut Client,
        prepared: &Prepared,
        batch: &[StoredEvent],
    ) -> Result<(), PgError> {
        let gw = &self.ctx.gateway_id;
        let mut seqs = Vec::with_capacity(batch.len());
        let mut ts = Vec::with_capacity(batch.len());
        let mut sources = Vec::with_capacity(batch.len());
        let mut pbxs = Vec::with_capacity(batch.len());
        let mut kinds = Vec::with_capacity(batch.len());
        let mut call_ids = Vec::with_capacity(batch.len());
        let mut payloads = Vec::with_capacity(batch.len());
        for e in batch {
            seqs.push(e.seq as i64);
            ts.push(e.ts_ms);
            sources.push(e.source.as_str());
            pbxs.push(e.pbx.as_str());
            kinds.push(e.kind.as_str());
            call_ids.push(e.call_id.as_deref());
            payloads.push(event_json(gw, e, false).to_string());
        }
        let tx = client.transaction().await?;
        tx.execute(
            &prepared.events,
            &[
                gw, &seqs, &ts, &sources, &pbxs, &kinds, &call_ids, &payloads,
            ],
        )
        .await?;
        let calls = CallColumns::from_batch(batch);
        if !calls.call_id.is_empty() {
            tx.execute(
                &prepared.calls,
                &[
                    gw,
                    &calls.call_id,
                    &calls.pbx,
                    &calls.direction,
                    &calls.caller,
                    &calls.callee,
                    &calls.extension,
                    &calls.agent,
                    &calls.queue,
                    &calls.started_at,
                    &calls.pbx_answered_at,
                    &calls.answered_at,
                    &calls.ended_at,
                    &calls.duration_s,
                    &calls.billsec_s,
                    &calls.disposition,
                    &calls.hangup_cause,
                    &calls.ivr_digits,
                    &calls.recording,
                    &calls.transfers,
                    &calls.holds,
                    &calls.caller_name,
                    &calls.company,
                    &calls.last_seq,
                    &calls.rang,
                    &calls.charge,
                    &calls.currency,
                    &calls.recording_url,
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

impl super::Session for PostgresSink {
    type Error = PgError;

    async fn session(&self, acked: &mut u64) -> Result<(), PgError> {
        self.connection(acked).await
    }
}

const INSERT_EVENTS: &str = "
INSERT INTO pbxgw_events (gateway_id, seq, ts, source, pbx, kind, call_id, payload)
SELECT $1, u.seq, to_timestamp(u.ts / 1000.0), u.source, u.pbx, u.kind, u.call_id, u.payload::jsonb
FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
     AS u(seq, ts, source, pbx, kind, call_id, payload)
ON CONFLICT (gateway_id, seq) DO NOTHING";

const UPSERT_CALLS: &str = "
INSERT INTO pbxgw_calls (gateway_id, call_id, pbx, direction, caller, callee, extension, agent,
    queue, started_at, pbx_answered_at, answered_at, ended_at, duration_s, billsec_s,
    disposition, hangup_cause, ivr_digits, recording, transfers, holds, caller_name, company,
    last_seq, rang, charge, currency, recording_url)
SELECT $1, u.call_id, u.pbx, u.direction, u.caller, u.callee, u.extension, u.agent, u.queue,
    to_timestamp(u.started / 1000.0), to_timestamp(u.pbx_answered / 1000.0),
    to_timestamp(u.answered / 1000.0), to_timestamp(u.ended / 1000.0), u.duration_s,
    u.billsec_s, u.disposition, u.hangup_cause, u.ivr_digits, u.recording, u.transfers::jsonb,
    u.holds, u.caller_name, u.company, u.last_seq, u.rang::jsonb, u.charge::numeric, u.currency,
    u.recording_url
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
            $9::text[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[],
            $14::bigint[], $15::bigint[], $16::text[], $17::text[], $18::text[], $19::text[],
            $20::text[], $21::int[], $22::text[], $23::text[], $24::bigint[], $25::text[],
            $26::text[], $27::text[], $28::text[])
     AS u(call_id, pbx, direction, caller, callee, extension, agent, queue, started,
          pbx_answered, answered, ended, duration_s, billsec_s, disposition, hangup_cause,
          ivr_digits, recording, transfers, holds, caller_name, company, last_seq, rang,
          charge, currency, recording_url)
ON CONFLICT (gateway_id, call_id) DO UPDATE SET
    pbx = excluded.pbx, direction = excluded.direction, caller = excluded.caller,
    callee = excluded.callee, extension = excluded.extension, agent = excluded.agent,
    queue = excluded.queue, started_at = excluded.started_at,
    pbx_answered_at = excluded.pbx_answered_at, answered_at = excluded.answered_at,
    ended_at = excluded.ended_at, duration_s = excluded.duration_s,
    billsec_s = excluded.billsec_s, disposition = excluded.disposition,
    hangup_cause = excluded.hangup_cause, ivr_digits = excluded.ivr_digits,
    recording = excluded.recording, transfers = excluded.transfers, holds = excluded.holds,
    caller_name = excluded.caller_name, company = excluded.company, rang = excluded.rang,
    charge = excluded.charge, currency = excluded.currency, recording_url = excluded.recording_url,
    last_seq = excluded.last_seq, updated_at = now()
WHERE pbxgw_calls.last_seq <= excluded.last_seq";

/// The call records of one batch as columns for `UPSERT_CALLS`, one per call: PostgreSQL
/// refuses to upsert the same row twice in one statement, so the latest record wins here.
#[derive(Default)]
struct CallColumns<'a> {
    call_id: Vec<&'a str>,
    pbx: Vec<&'a str>,
    direction: Vec<&'static str>,
    caller: Vec<Option<&'a str>>,
    callee: Vec<Option<&'a str>>,
    extension: Vec<Option<&'a str>>,
    agent: Vec<Option<&'a str>>,
    queue: Vec<Option<&'a str>>,
    started_at: Vec<i64>,
    pbx_answered_at: Vec<Option<i64>>,
    answered_at: Vec<Option<i64>>,
    ended_at: Vec<i64>,
    duration_s: Vec<i64>,
    billsec_s: Vec<i64>,
    disposition: Vec<&'static str>,
    hangup_cause: Vec<Option<&'a str>>,
    ivr_digits: Vec<Option<&'a str>>,
    recording: Vec<Option<&'a str>>,
    transfers: Vec<String>,
    holds: Vec<i32>,
    caller_name: Vec<Option<&'a str>>,
    company: Vec<Option<&'a str>>,
    last_seq: Vec<i64>,
    rang: Vec<String>,
    /// A decimal as text: the amount the PBX sent, checked by [`crate::calls::Charge::parse`].
    charge: Vec<Option<&'a str>>,
    currency: Vec<Option<&'a str>>,
    recording_url: Vec<Option<&'a str>>,
}

impl<'a> CallColumns<'a> {
    fn from_batch(batch: &'a [StoredEvent]) -> CallColumns<'a> {
        let mut latest: std::collections::HashMap<&str, (&StoredEvent, &CallRecord)> =
            std::collections::HashMap::new();
        for e in batch {
            if let (Ok(EventBody::CallEnded(r)), Some(call_id)) = (&e.body, &e.call_id) {
                latest.insert(call_id.as_str(), (e, r));
            }
        }
        let mut rows: Vec<_> = latest.into_iter().collect();
        rows.sort_by_key(|(_, (e, _))| e.seq);
        let mut c = CallColumns::default();
        for (call_id, (e, r)) in rows {
            c.call_id.push(call_id);
            c.pbx.push(&e.pbx);
            c.direction.push(r.direction.as_str());
            c.caller.push(r.caller.as_deref());
            c.callee.push(r.callee.as_deref());
            c.extension.push(r.extension.as_deref());
            c.agent.push(r.agent.as_deref());
            c.queue.push(r.queue.as_deref());
            c.started_at.push(r.started_at);
            c.pbx_answered_at.push(r.pbx_answered_at);
            c.answered_at.push(r.answered_at);
            c.ended_at.push(r.ended_at);
            c.duration_s.push(r.duration_s);
            c.billsec_s.push(r.billsec_s);
            c.disposition.push(r.disposition.as_str());
            c.hangup_cause.push(r.hangup_cause.as_deref());
            c.ivr_digits.push(r.ivr_digits.as_deref());
            c.recording.push(r.recording.as_deref());
            c.transfers.push(
                record_fields(r)
                    .get("transfers")
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| "[]".into()),
            );
            c.holds.push(i32::try_from(r.holds).unwrap_or(i32::MAX));
            c.caller_name.push(r.caller_name.as_deref());
            c.company.push(r.company.as_deref());
            c.last_seq.push(e.seq as i64);
            c.rang
                .push(serde_json::to_string(&r.rang).unwrap_or_else(|_| "[]".into()));
            c.charge.push(r.charge.as_ref().map(|c| c.amount.as_str()));
            c.currency
                .push(r.charge.as_ref().map(|c| c.currency.as_str()));
            c.recording_url.push(r.recording_url.as_deref());
        }
        c
    }
}

/// Applies the central schema, or says exactly which grant is missing.
pub async fn migrate(client: &mut Client) -> Result<(), PgError> {
    let role: String = client
        .query_one("SELECT current_user::text", &[])
        .await?
        .get(0);
    let missing_grant = |grant: String| PgError::MissingGrant {
        role: role.clone(),
        grant,
    };
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let exists: bool = tx
        .query_one(
            "SELECT to_regclass('pbxgw_schema_migrations') IS NOT NULL",
            &[],
        )
        .await?
        .get(0);
    let current: i32 = if exists {
        tx.query_one(
            "SELECT COALESCE(MAX(version), 0) FROM pbxgw_schema_migrations",
            &[],
        )
        .await?
        .get(0)
    } else {
        0
    };
    let pending: Vec<&Migration> = MIGRATIONS.iter().filter(|m| m.version > current).collect();
    if !pending.is_empty() {
        let can_create: bool = tx
            .query_one(
                "SELECT has_schema_privilege(current_schema(), 'CREATE')",
                &[],
            )
            .await?
            .get(0);
        if !can_create {
            let schema: String = tx
                .query_one("SELECT current_schema()::text", &[])
                .await?
                .get(0);
            return Err(missing_grant(format!(
                "GRANT CREATE ON SCHEMA {schema} TO {role}"
            )));
        }
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS pbxgw_schema_migrations (
                 version integer PRIMARY KEY, name text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now())",
        )
        .await?;
        for m in pending {
            tx.batch_execute(m.sql).await?;
            tx.execute(
                "INSERT INTO pbxgw_schema_migrations (version, name) VALUES ($1, $2)",
                &[&m.version, &m.name],
            )
            .await?;
            tracing::info!(migration = m.name, "applied central PostgreSQL migration");
        }
    }
    for (table, privileges) in [
        ("pbxgw_events", &["SELECT", "INSERT"][..]),
        ("pbxgw_calls", &["SELECT", "INSERT", "UPDATE"][..]),
    ] {
        for privilege in privileges {
            // has_table_privilege with a list is true when ANY is held: ask one at a time.
            let ok: bool = tx
                .query_one("SELECT has_table_privilege($1, $2)", &[&table, privilege])
                .await?
                .get(0);
            if !ok {
                return Err(missing_grant(format!(
                    "GRANT {} ON {table} TO {role}",
                    privileges.join(", ")
                )));
            }
        }
    }
    tx.commit().await?;
    Ok(())
}
