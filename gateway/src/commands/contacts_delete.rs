//! `contacts.delete` `{"number"}` answers `{"removed"}`.

use serde::{Deserialize, Serialize};

use super::request::Request;
use super::{Commands, Refusal};

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
pub(super) struct Removed {
    removed: bool,
}

impl Commands {
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
}
