//! Contacts central IT keeps in PostgreSQL (`pbxgw_contacts`, migrations/postgres), copied
//! into the box's directory every `[contacts] central_sync_s`, so names show up during an
//! uplink outage too. Each sync replaces the rows the previous sync brought and leaves the
//! ones set on the box alone.

use std::path::PathBuf;
use std::time::Duration;

use tokio_postgres::error::SqlState;
use tokio_util::sync::CancellationToken;

use super::{ContactError, ContactInput, Directory, ImportReport};
use crate::backoff::Backoff;
use crate::config::PostgresConfig;
use crate::numbers::NumberPlan;
use crate::uplink::postgres::{self, PgError};

/// The `source` of rows a sync owns.
pub(crate) const SOURCE: &str = "central";

/// The first retry after a failed sync; later ones double up to the sync period.
const FIRST_RETRY: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub(crate) enum SyncError {
    #[error(transparent)]
    Pg(#[from] PgError),
    #[error("PostgreSQL role cannot read pbxgw_contacts: run `GRANT SELECT ON pbxgw_contacts TO <role>` as the database owner")]
    NoGrant,
    #[error(transparent)]
    Directory(#[from] ContactError),
    #[error("the contact sync stopped: {0}")]
    Task(String),
}

pub(crate) struct CentralSync {
    pub config: PostgresConfig,
    pub gateway_id: String,
    pub db_path: PathBuf,
    pub plan: NumberPlan,
    /// The period (`[contacts] central_sync_s`); `None`: no sync until a reload sets one.
    pub every: tokio::sync::watch::Receiver<Option<Duration>>,
}

impl CentralSync {
    /// Syncs now and then every `every` until shutdown. A failed sync is logged, the
    /// directory keeps what it had, and the next try comes sooner than `every` (a box that
    /// boots before its uplink should not wait a whole period for its names). A reload that
    /// changes the period syncs at once and goes on with the new one; one that removes it
    /// stops syncing.
    pub async fn run(mut self, shutdown: CancellationToken) {
        loop {
            let every = *self.every.borrow_and_update();
            let Some(every) = every else {
                tokio::select! {
                    changed = self.every.changed() => if changed.is_err() { return },
                    _ = shutdown.cancelled() => return,
                }
                continue;
            };
            if !self.sync_every(every, &shutdown).await {
                return;
            }
        }
    }

    /// Syncs every `every` until the period changes (true) or shutdown (false).
    async fn sync_every(&mut self, every: Duration, shutdown: &CancellationToken) -> bool {
        let mut retry = Backoff::new(FIRST_RETRY.min(every), every);
        loop {
            let wait = match self.sync_once().await {
                Ok(r) => {
                    tracing::info!(
                        added = r.added,
                        updated = r.updated,
                        removed = r.removed,
                        kept_local = r.kept_local,
                        skipped = r.skipped.len(),
                        "contacts synced from central"
                    );
                    retry.reset();
                    every
                }
                Err(e) => {
                    let wait = retry.next_delay();
                    tracing::warn!(error = %e, retry_in_s = wait.as_secs(), "contact sync from central failed");
                    wait
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                changed = self.every.changed() => return changed.is_ok(),
                _ = shutdown.cancelled() => return false,
            }
        }
    }

    pub(crate) async fn sync_once(&self) -> Result<ImportReport, SyncError> {
        let mut client = postgres::connect(&self.config, &self.gateway_id).await?;
        postgres::migrate(&mut client).await?;
        // Shared rows first, so a row for this gateway overrides them.
        let rows = client
            // Unnamed statement, one round trip: safe behind a transaction-pooling proxy.
            .query_typed(
                "SELECT number, name, company, note FROM pbxgw_contacts
                 WHERE gateway_id IS NULL OR gateway_id = $1
                 ORDER BY gateway_id NULLS FIRST, number",
                &[(&self.gateway_id, tokio_postgres::types::Type::TEXT)],
            )
            .await
            .map_err(|e| match e.code() {
                Some(c) if *c == SqlState::INSUFFICIENT_PRIVILEGE => SyncError::NoGrant,
                _ => SyncError::Pg(e.into()),
            })?;
        let contacts: Vec<(String, ContactInput)> = rows
            .iter()
            .map(|r| {
                let number: String = r.get(0);
                (
                    format!("pbxgw_contacts {number}"),
                    ContactInput {
                        number,
                        name: r.get(1),
                        company: r.get(2),
                        note: r.get(3),
                    },
                )
            })
            .collect();
        let (path, plan) = (self.db_path.clone(), self.plan.clone());
        let now = crate::clock::now_ms();
        tokio::task::spawn_blocking(move || {
            Directory::open(&path, plan)?.replace_central(contacts, now)
        })
        .await
        .map_err(|e| SyncError::Task(e.to_string()))?
        .map_err(SyncError::from)
    }
}
