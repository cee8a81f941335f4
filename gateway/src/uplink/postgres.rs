//! PostgreSQL uplink: batched, idempotent inserts into `pbxgw_events` (and upserts into
//! `pbxgw_calls` for `call.ended`); the cursor moves after COMMIT.

use std::time::{Duration, Instant};

use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Client;

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
    Migration {
        version: 5,
        name: "005_events_by_month.sql",
        sql: include_str!("../../../migrations/postgres/005_events_by_month.sql"),
    },
];

/// How often the link's round trip is measured.
const PING_EVERY: Duration = Duration::from_secs(60);

/// Serializes migrations between gateways that share a database.
const MIGRATION_LOCK: i64 = 0x7062_7867_7700;

#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("PostgreSQL: {}", server_says(.0))]
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

/// The server's own message and SQLSTATE when it sent one ("db error" alone says nothing).
fn server_says(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({}: {})", e, db.code().code(), db.message()),
        None => e.to_string(),
    }
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
    let version = client
        .query_typed("SHOW server_version", &[])
        .await?
        .first()
        .and_then(|r| r.try_get::<_, String>(0).ok())
        .unwrap_or_default();
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
        let mut known_months = KnownMonths::default();
        let mut committed = self.ctx.committed.clone();
        let mut pinged = self.ping(&client).await?;
        // While one batch is in the database, the next is read and serialized beside it.
        let mut prefetched: Option<tokio::task::JoinHandle<Result<Staged, StoreError>>> = None;
        loop {
            if pinged.elapsed() >= PING_EVERY {
                pinged = self.ping(&client).await?;
            }
            let limit = self.config.batch_size;
            let ready = match prefetched.take() {
                Some(read) => Some(read.await.map_err(|_| StoreError::Closed)??),
                None => None,
            };
            let staged = match ready {
                Some(staged) if !staged.events.is_empty() => staged,
                _ => {
                    let waiting = super::next_batch(&self.ctx, *acked, limit, &mut committed, LINK);
                    let Ok(next) = tokio::time::timeout(PING_EVERY, waiting).await else {
                        continue;
                    };
                    let Some(events) = next? else {
                        return Ok(());
                    };
                    Staged::new(&self.ctx.gateway_id, events)
                }
            };
            let Some(last) = staged.events.last().map(|e| e.seq) else {
                continue;
            };
            if staged.events.len() == limit {
                self.ctx.links.set(
                    LINK,
                    LinkState::Connecting,
                    Some(format!("draining backlog at seq {last}")),
                );
                let ctx = self.ctx.clone();
                prefetched = Some(tokio::spawn(async move {
                    let gw = ctx.gateway_id.clone();
                    ctx.reader
                        .call(move |r| Ok(Staged::new(&gw, r.events_after(last, limit)?)))
                        .await
                }));
            }
            self.write_batch(&mut client, &mut known_months, &staged)
                .await?;
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

    /// One batch in one transaction: the events into `pbxgw_events` skipping rows already
    /// there, the batch's call records upserted. A backlog's batch goes by binary COPY into a
    /// staging table the commit drops; live traffic's few events go in one statement, since
    /// a staging table per transaction costs the central server more than it saves on a few
    /// rows. Every statement is unnamed or closed inside the transaction, so a
    /// transaction-pooling proxy may hand the next one to another server connection.
    async fn write_batch(
        &self,
        client: &mut Client,
        known_months: &mut KnownMonths,
        staged: &Staged,
    ) -> Result<(), PgError> {
        let tx = client.transaction().await?;
        known_months.ensure(&tx, &staged.events).await?;
        if staged.events.len() >= COPY_FROM_ROWS {
            self.copy_events(&tx, staged).await?;
        } else {
            self.insert_events(&tx, staged).await?;
        }
        let calls = CallColumns::from_batch(&staged.events);
        if !calls.call_id.is_empty() {
            tx.execute_typed(UPSERT_CALLS, &calls.params(&self.ctx.gateway_id))
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn copy_events(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        staged: &Staged,
    ) -> Result<(), PgError> {
        tx.batch_execute(CREATE_STAGE).await?;
        {
            let sink = tx.copy_in(COPY_STAGE).await?;
            let mut writer = std::pin::pin!(BinaryCopyInWriter::new(sink, STAGE_TYPES));
            for (e, payload) in staged.events.iter().zip(&staged.payloads) {
                writer
                    .as_mut()
                    .write(&[
                        &(e.seq as i64),
                        &unix_ms(e.ts_ms),
                        &e.source,
                        &e.pbx,
                        &e.kind,
                        &e.call_id,
                        &JsonText(payload),
                    ])
                    .await?;
            }
            writer.finish().await?;
        }
        let gw = &self.ctx.gateway_id;
        tx.execute_typed(INSERT_FROM_STAGE, &[(gw, Type::TEXT)])
            .await?;
        Ok(())
    }

    async fn insert_events(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        staged: &Staged,
    ) -> Result<(), PgError> {
        let events = &staged.events;
        let seqs: Vec<i64> = events.iter().map(|e| e.seq as i64).collect();
        let ts: Vec<std::time::SystemTime> = events.iter().map(|e| unix_ms(e.ts_ms)).collect();
        let sources: Vec<&str> = events.iter().map(|e| e.source.as_str()).collect();
        let pbxs: Vec<&str> = events.iter().map(|e| e.pbx.as_str()).collect();
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        let call_ids: Vec<Option<&str>> = events.iter().map(|e| e.call_id.as_deref()).collect();
        let payloads: Vec<JsonText> = staged.payloads.iter().map(|p| JsonText(p)).collect();
        let gw = &self.ctx.gateway_id;
        tx.execute_typed(
            INSERT_EVENTS,
            &[
                (gw, Type::TEXT),
                (&seqs, Type::INT8_ARRAY),
                (&ts, Type::TIMESTAMPTZ_ARRAY),
                (&sources, Type::TEXT_ARRAY),
                (&pbxs, Type::TEXT_ARRAY),
                (&kinds, Type::TEXT_ARRAY),
                (&call_ids, Type::TEXT_ARRAY),
                (&payloads, Type::JSONB_ARRAY),
            ],
        )
        .await?;
        Ok(())
    }
}

/// Batches from this many events on go through the staging COPY (a backlog's), smaller ones
/// (live traffic's) through one INSERT: measured with spine-bench and fleet-bench.
const COPY_FROM_ROWS: usize = 100;

/// A point in time as PostgreSQL's binary `timestamptz` takes it.
fn unix_ms(ms: i64) -> std::time::SystemTime {
    let at = Duration::from_millis(ms.unsigned_abs());
    let epoch = std::time::UNIX_EPOCH;
    let t = if ms >= 0 {
        epoch.checked_add(at)
    } else {
        epoch.checked_sub(at)
    };
    t.unwrap_or(epoch)
}

/// Serialized JSON sent as `jsonb` in binary form (version 1, then the text), so that the
/// payload is parsed once, by the server's COPY or INSERT.
#[derive(Debug)]
struct JsonText<'a>(&'a str);

impl ToSql for JsonText<'_> {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use bytes::BufMut;
        out.put_u8(1);
        out.put_slice(self.0.as_bytes());
        Ok(tokio_postgres::types::IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB
    }

    tokio_postgres::types::to_sql_checked!();
}

/// A batch read from the log with each event's JSON payload, serialized off the database's
/// round trips.
struct Staged {
    events: Vec<StoredEvent>,
    payloads: Vec<String>,
}

impl Staged {
    fn new(gateway_id: &str, events: Vec<StoredEvent>) -> Staged {
        let payloads = events
            .iter()
            .map(|e| event_json(gateway_id, e, false).to_string())
            .collect();
        Staged { events, payloads }
    }
}

/// The months this connection has seen partitions for, so that a batch asks the database
/// to create one only when its events reach a month not seen yet.
#[derive(Default)]
struct KnownMonths(std::collections::BTreeSet<i64>);

impl KnownMonths {
    async fn ensure(
        &mut self,
        tx: &tokio_postgres::Transaction<'_>,
        batch: &[StoredEvent],
    ) -> Result<(), PgError> {
        let mut new: Vec<i64> = batch
            .iter()
            .map(|e| month_start_ms(e.ts_ms))
            .filter(|m| !self.0.contains(m))
            .collect();
        new.sort_unstable();
        new.dedup();
        for month in new {
            tx.execute_typed(ENSURE_PARTITION, &[(&month, Type::INT8)])
                .await?;
            self.0.insert(month);
        }
        Ok(())
    }
}

/// The first millisecond (UTC) of the month holding `ts_ms`: the partition's lower bound.
fn month_start_ms(ts_ms: i64) -> i64 {
    let secs = ts_ms.div_euclid(1000);
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(secs) else {
        return 0;
    };
    let first = t
        .replace_day(1)
        .map(|t| t.replace_time(time::Time::MIDNIGHT))
        .unwrap_or(t);
    first.unix_timestamp() * 1000
}

impl super::Session for PostgresSink {
    type Error = PgError;

    async fn session(&self, acked: &mut u64) -> Result<(), PgError> {
        self.connection(acked).await
    }
}

/// The staging table of one batch, dropped by its commit: nothing is left on the server
/// connection for the next transaction, which a pooler may give to another gateway.
const CREATE_STAGE: &str = "CREATE TEMP TABLE pbxgw_stage_events (
    seq bigint, ts timestamptz, source text, pbx text, kind text, call_id text, payload jsonb
) ON COMMIT DROP";

const COPY_STAGE: &str = "COPY pbxgw_stage_events FROM STDIN (FORMAT binary)";

const STAGE_TYPES: &[Type] = &[
    Type::INT8,
    Type::TIMESTAMPTZ,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::JSONB,
];

const INSERT_EVENTS: &str = "
INSERT INTO pbxgw_events (gateway_id, seq, ts, source, pbx, kind, call_id, payload)
SELECT $1, u.seq, u.ts, u.source, u.pbx, u.kind, u.call_id, u.payload
FROM unnest($2::bigint[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[],
            $8::jsonb[]) AS u(seq, ts, source, pbx, kind, call_id, payload)
ON CONFLICT DO NOTHING";

const INSERT_FROM_STAGE: &str = "
INSERT INTO pbxgw_events (gateway_id, seq, ts, source, pbx, kind, call_id, payload)
SELECT $1, s.seq, s.ts, s.source, s.pbx, s.kind, s.call_id, s.payload
FROM pbxgw_stage_events s
ON CONFLICT DO NOTHING";

/// Creates the month's partition of `pbxgw_events` if it is missing (migration 005).
const ENSURE_PARTITION: &str =
    "SELECT pbxgw_events_ensure_partition(to_timestamp($1::bigint / 1000.0))";

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
    /// The parameters of `UPSERT_CALLS` with their types (an unnamed statement needs them).
    fn params<'p>(&'p self, gateway_id: &'p String) -> Vec<(&'p (dyn ToSql + Sync), Type)> {
        let texts = Type::TEXT_ARRAY;
        let ints = Type::INT8_ARRAY;
        vec![
            (gateway_id, Type::TEXT),
            (&self.call_id, texts.clone()),
            (&self.pbx, texts.clone()),
            (&self.direction, texts.clone()),
            (&self.caller, texts.clone()),
            (&self.callee, texts.clone()),
            (&self.extension, texts.clone()),
            (&self.agent, texts.clone()),
            (&self.queue, texts.clone()),
            (&self.started_at, ints.clone()),
            (&self.pbx_answered_at, ints.clone()),
            (&self.answered_at, ints.clone()),
            (&self.ended_at, ints.clone()),
            (&self.duration_s, ints.clone()),
            (&self.billsec_s, ints.clone()),
            (&self.disposition, texts.clone()),
            (&self.hangup_cause, texts.clone()),
            (&self.ivr_digits, texts.clone()),
            (&self.recording, texts.clone()),
            (&self.transfers, texts.clone()),
            (&self.holds, Type::INT4_ARRAY),
            (&self.caller_name, texts.clone()),
            (&self.company, texts.clone()),
            (&self.last_seq, ints),
            (&self.rang, texts.clone()),
            (&self.charge, texts.clone()),
            (&self.currency, texts.clone()),
            (&self.recording_url, texts),
        ]
    }

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

/// Retention: drops the month partitions of `pbxgw_events` that end before now minus `age`
/// (an interval, e.g. "400 days"); returns their names.
pub async fn prune(client: &mut Client, age: &str) -> Result<Vec<String>, PgError> {
    let tx = client.transaction().await?;
    let rows = tx
        .query(
            "SELECT pbxgw_events_drop_before(now() - $1::text::interval)",
            &[&age],
        )
        .await?;
    let dropped = rows.iter().filter_map(|r| r.try_get(0).ok()).collect();
    tx.commit().await?;
    Ok(dropped)
}

/// Applies the central schema, or says exactly which grant is missing.
pub async fn migrate(client: &mut Client) -> Result<(), PgError> {
    // Everything in one transaction: behind a transaction-pooling proxy each transaction may
    // run on another server connection.
    let tx = client.transaction().await?;
    let role: String = tx.query_one("SELECT current_user::text", &[]).await?.get(0);
    let missing_grant = |grant: String| PgError::MissingGrant {
        role: role.clone(),
        grant,
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_belongs_to_the_utc_month_of_its_timestamp() {
        // 2026-11-30 23:59:59.999 UTC, and one millisecond later.
        assert_eq!(month_start_ms(1_796_083_199_999), 1_793_491_200_000);
        assert_eq!(month_start_ms(1_796_083_200_000), 1_796_083_200_000);
        // Before 1970 (a box without a clock): December 1969.
        assert_eq!(month_start_ms(-1), -2_678_400_000);
        // Past what a timestamp holds: the default partition's business, not a panic.
        assert_eq!(month_start_ms(i64::MAX), 0);
        assert_eq!(
            unix_ms(-1000),
            std::time::UNIX_EPOCH - Duration::from_secs(1)
        );
    }

    #[test]
    fn a_payload_goes_as_binary_jsonb_version_1() {
        let mut out = bytes::BytesMut::new();
        let sent = JsonText("{\"a\":1}").to_sql_checked(&Type::JSONB, &mut out);
        assert!(sent.is_ok());
        assert_eq!(&out[..], b"\x01{\"a\":1}");
        assert!(JsonText("{}")
            .to_sql_checked(&Type::TEXT, &mut out)
            .is_err());
    }

    #[test]
    fn every_call_column_has_its_parameter_type() {
        let params_in_sql = UPSERT_CALLS.matches('$').count();
        let gw = "gw".to_owned();
        assert_eq!(CallColumns::default().params(&gw).len(), params_in_sql);
    }
}
