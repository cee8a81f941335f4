//! `operators.upsert` `{"id","name","team"?}` answers `{"operator","added"}`;
//! `operators.delete` `{"id"}` answers `{"removed"}`: the operator directory, edited from
//! central as the local API edits it.

use serde::{Deserialize, Serialize};

use super::request::Request;
use super::{Commands, Refusal};
use crate::contacts::operators::{Operator, OperatorInput};

#[derive(Deserialize)]
pub(super) struct OperatorsUpsert {
    id: String,
    name: String,
    team: Option<String>,
}

impl Request for OperatorsUpsert {
    const SHAPE: &'static str = r#"{"id": "101", "name": "...", "team"?: "..."}"#;

    fn required(&self) -> Vec<(&'static str, &str)> {
        vec![("id", &self.id), ("name", &self.name)]
    }
}

#[derive(Deserialize)]
pub(super) struct OperatorsDelete {
    id: String,
}

impl Request for OperatorsDelete {
    const SHAPE: &'static str = r#"{"id": "101"}"#;

    fn required(&self) -> Vec<(&'static str, &str)> {
        vec![("id", &self.id)]
    }
}

#[derive(Serialize)]
pub(super) struct Upserted {
    operator: Operator,
    added: bool,
}

#[derive(Serialize)]
pub(super) struct Removed {
    removed: bool,
}

impl Commands {
    pub(super) async fn operators_upsert(
        &self,
        request: OperatorsUpsert,
    ) -> Result<Upserted, Refusal> {
        let input = OperatorInput {
            id: request.id,
            name: request.name,
            team: request.team,
        };
        self.with_directory(move |directory| {
            let (operator, added) =
                directory.upsert_operator(&input, "mqtt", crate::clock::now_ms())?;
            Ok(Upserted { operator, added })
        })
        .await
    }

    pub(super) async fn operators_delete(
        &self,
        request: OperatorsDelete,
    ) -> Result<Removed, Refusal> {
        self.with_directory(move |directory| {
            let removed = directory.delete_operator(&request.id)?;
            Ok(Removed { removed })
        })
        .await
    }
}
