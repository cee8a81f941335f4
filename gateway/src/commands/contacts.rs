//! `contacts.upsert` `{"number","name","company"?,"note"?}` answers `{"contact","added"}`;
//! `contacts.delete` `{"number"}` answers `{"removed"}`.

use serde::{Deserialize, Serialize};

use super::request::Request;
use super::{refuse, Commands, Refusal};
use crate::contacts::{Contact, ContactError, ContactInput, Directory};

#[derive(Deserialize)]
pub(super) struct ContactsUpsert {
    number: String,
    name: String,
    company: Option<String>,
    note: Option<String>,
}

impl Request for ContactsUpsert {
    const SHAPE: &'static str =
        r#"{"number": "+48601234567", "name": "...", "company"?: "...", "note"?: "..."}"#;

    fn required(&self) -> Vec<(&'static str, &str)> {
        vec![("number", &self.number), ("name", &self.name)]
    }
}

#[derive(Deserialize)]
pub(super) struct ContactsDelete {
    number: String,
}

impl Request for ContactsDelete {
    const SHAPE: &'static str = r#"{"number": "+48601234567"}"#;

    fn required(&self) -> Vec<(&'static str, &str)> {
        vec![("number", &self.number)]
    }
}

#[derive(Serialize)]
pub(super) struct Upserted {
    contact: Contact,
    /// New, rather than an update of one the directory had.
    added: bool,
}

#[derive(Serialize)]
pub(super) struct Removed {
    removed: bool,
}

impl Commands {
    pub(super) async fn contacts_upsert(
        &self,
        request: ContactsUpsert,
    ) -> Result<Upserted, Refusal> {
        let input = ContactInput {
            number: request.number,
            name: request.name,
            company: request.company,
            note: request.note,
        };
        self.with_directory(move |directory| {
            let (contact, outcome) = directory.upsert(&input, "mqtt", crate::clock::now_ms())?;
            let added = outcome == crate::contacts::Upserted::Added;
            Ok(Upserted { contact, added })
        })
        .await
    }

    pub(super) async fn contacts_delete(
        &self,
        request: ContactsDelete,
    ) -> Result<Removed, Refusal> {
        self.with_directory(move |directory| {
            let removed = directory.delete(&request.number)?;
            Ok(Removed { removed })
        })
        .await
    }

    /// Runs `work` on the directory off the async threads (SQLite blocks).
    async fn with_directory<T: Send + 'static>(
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
            other => refuse("bad_request", other.to_string()),
        })
    }
}
