//! `call.hangup` `{"channel"}` (Asterisk) or `{"extension"}` (Slican), `"pbx"?`.

use serde::Deserialize;

use super::request::Request;
use super::{Commands, Refusal};
use crate::pbx::control::{CallControl, CallRef, Done};

#[derive(Deserialize)]
pub(super) struct Hangup {
    pbx: Option<String>,
    channel: Option<String>,
    extension: Option<String>,
}

impl Request for Hangup {
    const SHAPE: &'static str = r#"{"channel": "PJSIP/201-0000001a"} (Asterisk) or {"extension": "201"} (Slican), "pbx"?: "name""#;
}

impl Commands {
    pub(super) async fn hangup(&self, r: Hangup) -> Result<Done, Refusal> {
        let pbx = self.pbx(r.pbx.as_deref())?;
        let call = CallRef {
            channel: r.channel,
            extension: r.extension,
        };
        Ok(pbx.hangup(&call).await?)
    }
}
