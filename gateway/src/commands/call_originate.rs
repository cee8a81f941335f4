//! `call.originate` `{"extension","number","caller_id"?,"pbx"?}`: click-to-call. The PBX
//! rings the agent's extension, then dials the number (the `[numbers]` policy applies).

use serde::Deserialize;

use super::request::Request;
use super::{Commands, Refusal};
use crate::pbx::control::{CallControl, Done};

#[derive(Deserialize)]
pub(super) struct Originate {
    pbx: Option<String>,
    extension: String,
    number: String,
    caller_id: Option<String>,
}

impl Request for Originate {
    const SHAPE: &'static str =
        r#"{"extension": "201", "number": "+48601234567", "caller_id"?: "...", "pbx"?: "name"}"#;

    fn required(&self) -> Vec<(&'static str, &str)> {
        vec![("extension", &self.extension), ("number", &self.number)]
    }
}

impl Commands {
    pub(super) async fn originate(&self, r: Originate) -> Result<Done, Refusal> {
        self.reach().check(&r.number)?;
        let pbx = self.pbx(r.pbx.as_deref())?;
        Ok(pbx
            .originate(&r.extension, &r.number, r.caller_id.as_deref())
            .await?)
    }
}
