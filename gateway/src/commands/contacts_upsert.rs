//! `contacts.upsert` `{"number","name","company"?,"note"?}` answers `{"contact","added"}`:
//! a contact set on the box, which central's sync never overwrites.

use serde::{Deserialize, Serialize};

use super::request::Request;
use super::{Commands, Refusal};
use crate::contacts::{Contact, ContactInput};

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

#[derive(Serialize)]
pub(super) struct Upserted {
    contact: Contact,
    /// New, rather than an update of one the directory had.
    added: bool,
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
}
