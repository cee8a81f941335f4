//! `queue.pause` `{"interface","queue"?,"paused"?,"reason"?,"pbx"?}`: pause an agent in one
//! queue or all; Asterisk (AMI) PBXs, other kinds answer `unsupported`.

use serde::Deserialize;

use super::request::Request;
use super::{Commands, Refusal};
use crate::pbx::control::{CallControl, Done, QueuePause as Pause};

#[derive(Deserialize)]
pub(super) struct QueuePause {
    pbx: Option<String>,
    interface: String,
    queue: Option<String>,
    #[serde(default = "yes")]
    paused: bool,
    reason: Option<String>,
}

fn yes() -> bool {
    true
}

impl Request for QueuePause {
    const SHAPE: &'static str = r#"{"interface": "PJSIP/201", "queue"?: "support", "paused"?: true, "reason"?: "lunch", "pbx"?: "name"}"#;

    fn required(&self) -> Vec<(&'static str, &str)> {
        vec![("interface", &self.interface)]
    }
}

impl Commands {
    pub(super) async fn queue_pause(&self, r: QueuePause) -> Result<Done, Refusal> {
        let pbx = self.pbx(r.pbx.as_deref())?;
        let pause = Pause {
            interface: r.interface,
            queue: r.queue,
            paused: r.paused,
            reason: r.reason,
        };
        Ok(pbx.queue_pause(&pause).await?)
    }
}
