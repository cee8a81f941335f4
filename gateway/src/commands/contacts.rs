//! The contact directory as the `contacts.*` commands reach it.

use super::{refuse, Commands, Refusal};
use crate::contacts::{ContactError, Directory};

impl Commands {
    /// Runs `work` on the directory off the async threads (SQLite blocks).
    pub(super) async fn with_directory<T: Send + 'static>(
        &self,
        work: impl FnOnce(Directory) -> Result<T, ContactError> + Send + 'static,
    ) -> Result<T, Refusal> {
        let target = self
            .contacts
            .as_ref()
            .ok_or_else(|| refuse("unsupported", "this gateway has no contact directory"))?;
        let (path, plan) = (target.db_path.clone(), target.plan.clone());
        let done = tokio::task::spawn_blocking(move || work(Directory::open(&path, plan)?))
            .await
            .map_err(|e| refuse("internal", e.to_string()))?;
        done.map_err(|e| match e {
            ContactError::Number(n) => refuse("invalid_number", n.to_string()),
            e @ (ContactError::Sql(_) | ContactError::Task(_)) => refuse("internal", e.to_string()),
            e @ ContactError::TooMany(_) => refuse("too_many", e.to_string()),
            other => refuse("bad_request", other.to_string()),
        })
    }
}
