//! Call control through AMI, for the MQTT command topic and the local API: click-to-call,
//! blind and attended transfer, hang-up, queue pause, recording. Each action's answer comes
//! back typed: done (with Asterisk's message), refused (with Asterisk's reason), or why it
//! could not be asked.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::session::{ActionResult, AmiError, AmiSettings, Connection};
use crate::pbx::asterisk::OriginateSettings;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AmiAction {
    /// Click-to-call: ring the agent's `extension`, then dial `number` from it.
    Originate {
        extension: String,
        number: String,
        caller_id: Option<String>,
    },
    /// Blind transfer of `channel` to `exten`@`context`.
    Redirect {
        channel: String,
        exten: String,
        context: String,
    },
    /// Attended transfer: `channel` (the agent) consults `exten` first.
    Atxfer {
        channel: String,
        exten: String,
        context: String,
    },
    Hangup {
        channel: String,
    },
    /// Pause (or unpause) a queue member, in one queue or all of them.
    QueuePause {
        interface: String,
        queue: Option<String>,
        paused: bool,
        reason: Option<String>,
    },
    MixMonitor {
        channel: String,
        file: String,
    },
    StopMixMonitor {
        channel: String,
    },
}

impl AmiAction {
    /// The action name and its headers.
    pub(crate) fn to_wire(
        &self,
        originate: &OriginateSettings,
    ) -> (&'static str, Vec<(&'static str, String)>) {
        match self {
            AmiAction::Originate {
                extension,
                number,
                caller_id,
            } => {
                let mut h = vec![
                    (
                        "Channel",
                        originate.channel.replace("{extension}", extension),
                    ),
                    ("Context", originate.context.clone()),
                    ("Exten", number.clone()),
                    ("Priority", "1".into()),
                    ("Timeout", "30000".into()),
                    ("Async", "true".into()),
                ];
                if let Some(cid) = caller_id {
                    h.push(("CallerID", cid.clone()));
                }
                ("Originate", h)
            }
            AmiAction::Redirect {
                channel,
                exten,
                context,
            } => (
                "Redirect",
                vec![
                    ("Channel", channel.clone()),
                    ("Exten", exten.clone()),
                    ("Context", context.clone()),
                    ("Priority", "1".into()),
                ],
            ),
            AmiAction::Atxfer {
                channel,
                exten,
                context,
            } => (
                "Atxfer",
                vec![
                    ("Channel", channel.clone()),
                    ("Exten", exten.clone()),
                    ("Context", context.clone()),
                ],
            ),
            AmiAction::Hangup { channel } => ("Hangup", vec![("Channel", channel.clone())]),
            AmiAction::QueuePause {
                interface,
                queue,
                paused,
                reason,
            } => {
                let mut h = vec![
                    ("Interface", interface.clone()),
                    ("Paused", paused.to_string()),
                ];
                if let Some(q) = queue {
                    h.push(("Queue", q.clone()));
                }
                if let Some(r) = reason {
                    h.push(("Reason", r.clone()));
                }
                ("QueuePause", h)
            }
            AmiAction::MixMonitor { channel, file } => (
                "MixMonitor",
                vec![("Channel", channel.clone()), ("File", file.clone())],
            ),
            AmiAction::StopMixMonitor { channel } => {
                ("StopMixMonitor", vec![("Channel", channel.clone())])
            }
        }
    }
}

/// Asterisk's answer to a control action that it accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("Asterisk refused {action}: {message}")]
    Refused { action: String, message: String },
    #[error("no answer from Asterisk in time")]
    Timeout,
    #[error("the AMI link is not up")]
    NotConnected,
    #[error("invalid argument: {0}")]
    Invalid(String),
}

pub(crate) type ControlResult = Result<Done, ControlError>;

pub struct ControlRequest {
    pub action: AmiAction,
    pub reply: oneshot::Sender<ControlResult>,
}

/// The handle the rest of the gateway uses to command one Asterisk.
#[derive(Clone)]
pub struct AmiControl {
    tx: mpsc::Sender<ControlRequest>,
    answer_within: Duration,
}

impl AmiControl {
    /// A handle and the session's end; `answer_within` as in the session's settings.
    pub fn channel(answer_within: Duration) -> (AmiControl, mpsc::Receiver<ControlRequest>) {
        let (tx, rx) = mpsc::channel(32);
        (AmiControl { tx, answer_within }, rx)
    }

    pub async fn send(&self, action: AmiAction) -> ControlResult {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(ControlRequest { action, reply })
            .await
            .map_err(|_| ControlError::NotConnected)?;
        // The session fails the action after `answer_within`; this only guards a stuck one.
        match tokio::time::timeout(self.answer_within + Duration::from_secs(5), rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ControlError::NotConnected),
            Err(_) => Err(ControlError::Timeout),
        }
    }
}

/// Sends a request's action on the session's connection; its answer goes to the requester
/// when Asterisk's response arrives. Only a broken connection is an error for the session.
pub(crate) async fn submit(
    c: &mut Connection,
    req: ControlRequest,
    settings: &AmiSettings,
) -> Result<(), AmiError> {
    let (name, headers) = req.action.to_wire(&settings.originate);
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (reply, rx) = oneshot::channel();
    match c.send(name, &headers, reply).await {
        Ok(_) => {}
        Err(AmiError::BadHeader(e)) => {
            let _ = req.reply.send(Err(ControlError::Invalid(e.to_string())));
            return Ok(());
        }
        Err(e) => {
            let _ = req.reply.send(Err(ControlError::NotConnected));
            return Err(e);
        }
    }
    tokio::spawn(async move {
        let answer = rx.await.map_err(|_| AmiError::Closed).and_then(|r| r);
        let _ = req.reply.send(typed(name, answer));
    });
    Ok(())
}

fn typed(action: &str, answer: Result<ActionResult, AmiError>) -> ControlResult {
    match answer {
        Ok(r) if r.is_success() => Ok(Done {
            message: r.message().to_owned(),
        }),
        Ok(r) => Err(ControlError::Refused {
            action: action.to_owned(),
            message: r.message().to_owned(),
        }),
        Err(AmiError::NoAnswer(..)) => Err(ControlError::Timeout),
        Err(_) => Err(ControlError::NotConnected),
    }
}

impl From<ControlError> for crate::pbx::control::ControlFailure {
    fn from(e: ControlError) -> Self {
        use crate::pbx::control::ControlFailure as F;
        match e {
            ControlError::Refused { message, .. } => F::Refused(message),
            ControlError::Timeout => F::Timeout,
            ControlError::NotConnected => F::NotConnected("the PBX link is not up"),
            ControlError::Invalid(m) => F::Invalid(m),
        }
    }
}

impl AmiControl {
    async fn done(&self, action: AmiAction) -> crate::pbx::control::ControlResult {
        let done = self.send(action).await?;
        Ok(crate::pbx::control::Done {
            message: Some(done.message),
            channel: None,
            recording: None,
        })
    }
}

impl crate::pbx::control::CallControl for AmiControl {
    async fn originate(
        &self,
        extension: &str,
        number: &str,
        caller_id: Option<&str>,
    ) -> crate::pbx::control::ControlResult {
        self.done(AmiAction::Originate {
            extension: extension.to_owned(),
            number: number.to_owned(),
            caller_id: caller_id.map(str::to_owned),
        })
        .await
    }

    async fn hangup(
        &self,
        call: &crate::pbx::control::CallRef,
    ) -> crate::pbx::control::ControlResult {
        let channel = call.channel()?.to_owned();
        self.done(AmiAction::Hangup { channel }).await
    }

    async fn record(&self, channel: &str, name: &str) -> crate::pbx::control::ControlResult {
        let file = format!("{name}.wav");
        let mut done = self
            .done(AmiAction::MixMonitor {
                channel: channel.to_owned(),
                file: file.clone(),
            })
            .await?;
        done.recording = Some(file);
        Ok(done)
    }

    async fn stop_recording(
        &self,
        channel: &str,
        _name: Option<&str>,
    ) -> crate::pbx::control::ControlResult {
        self.done(AmiAction::StopMixMonitor {
            channel: channel.to_owned(),
        })
        .await
    }

    async fn transfer(
        &self,
        channel: &str,
        exten: &str,
        context: &str,
        kind: crate::pbx::control::TransferKind,
    ) -> crate::pbx::control::ControlResult {
        let (channel, exten, context) = (channel.to_owned(), exten.to_owned(), context.to_owned());
        self.done(match kind {
            crate::pbx::control::TransferKind::Blind => AmiAction::Redirect {
                channel,
                exten,
                context,
            },
            crate::pbx::control::TransferKind::Attended => AmiAction::Atxfer {
                channel,
                exten,
                context,
            },
        })
        .await
    }

    async fn queue_pause(
        &self,
        pause: &crate::pbx::control::QueuePause,
    ) -> crate::pbx::control::ControlResult {
        self.done(AmiAction::QueuePause {
            interface: pause.interface.clone(),
            queue: pause.queue.clone(),
            paused: pause.paused,
            reason: pause.reason.clone(),
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn click_to_call_rings_the_agent_then_dials_the_customer() {
        let (name, h) = AmiAction::Originate {
            extension: "201".into(),
            number: "+48221598154".into(),
            caller_id: None,
        }
        .to_wire(&OriginateSettings::default());
        assert_eq!(name, "Originate");
        assert!(h.contains(&("Channel", "PJSIP/201".into())));
        assert!(h.contains(&("Exten", "+48221598154".into())));
        assert!(h.contains(&("Context", "from-internal".into())));
        assert!(h.contains(&("Async", "true".into())));
    }

    #[test]
    fn answers_become_typed_results() {
        use super::super::codec::Message;
        let response = |r: &str, m: &str| ActionResult {
            response: Message {
                headers: vec![("Response".into(), r.into()), ("Message".into(), m.into())],
            },
            items: vec![],
            received: std::time::Instant::now(),
        };
        assert_eq!(
            typed("Hangup", Ok(response("Success", "Channel Hungup"))),
            Ok(Done {
                message: "Channel Hungup".into()
            })
        );
        assert_eq!(
            typed("Hangup", Ok(response("Error", "No such channel"))),
            Err(ControlError::Refused {
                action: "Hangup".into(),
                message: "No such channel".into()
            })
        );
        let late = AmiError::NoAnswer("x".into(), Duration::from_secs(1));
        assert_eq!(typed("Hangup", Err(late)), Err(ControlError::Timeout));
    }
}
