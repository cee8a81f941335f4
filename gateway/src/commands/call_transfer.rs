//! `call.transfer` `{"channel","exten","context"?,"kind"?: "blind"|"attended","pbx"?}`:
//! Asterisk (AMI) PBXs; other kinds answer `unsupported`.

use serde::Deserialize;

use super::request::Request;
use super::{Commands, Refusal};
use crate::pbx::control::{CallControl, Done, TransferKind};

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Kind {
    #[default]
    Blind,
    Attended,
}

#[derive(Deserialize)]
pub(super) struct Transfer {
    pbx: Option<String>,
    channel: String,
    exten: String,
    #[serde(default = "from_internal")]
    context: String,
    #[serde(default)]
    kind: Kind,
}

fn from_internal() -> String {
    "from-internal".into()
}

impl Request for Transfer {
    const SHAPE: &'static str = r#"{"channel": "PJSIP/201-0000001a", "exten": "205", "context"?: "from-internal", "kind"?: "blind"|"attended", "pbx"?: "name"}"#;

    fn required(&self) -> Vec<(&'static str, &str)> {
        vec![("channel", &self.channel), ("exten", &self.exten)]
    }
}

impl Commands {
    pub(super) async fn transfer(&self, r: Transfer) -> Result<Done, Refusal> {
        let kind = match r.kind {
            Kind::Blind => TransferKind::Blind,
            Kind::Attended => TransferKind::Attended,
        };
        let pbx = self.pbx(r.pbx.as_deref())?;
        Ok(pbx.transfer(&r.channel, &r.exten, &r.context, kind).await?)
    }
}
