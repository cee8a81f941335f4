//! Asterisk ARI: events over a WebSocket (`/ari/events`), control over REST.
//!
//! `model.rs` types the events, `session.rs` keeps the WebSocket (ping, reconnect, resync),
//! `rest.rs` is the REST client and the control actions, `ivr.rs` the optional built-in Stasis
//! IVR; the correlator is `calls/ari.rs`.

/// What remote commands use of an ARI PBX: its REST control and where click-to-call rings.
#[derive(Clone)]
pub struct AriControl {
    pub rest: rest::AriRest,
    pub originate: crate::pbx::asterisk::OriginateSettings,
}

impl From<rest::AriError> for crate::pbx::control::ControlFailure {
    fn from(e: rest::AriError) -> Self {
        use crate::pbx::control::ControlFailure as F;
        match e {
            rest::AriError::Refused { message, .. } => F::Refused(message),
            rest::AriError::Timeout(..) => F::Timeout,
            rest::AriError::Request(..) => F::NotConnected("the PBX's ARI does not answer"),
            rest::AriError::Invalid(m) => F::Invalid(m),
            other => F::Internal(other.to_string()),
        }
    }
}

impl crate::pbx::control::CallControl for AriControl {
    async fn originate(
        &self,
        extension: &str,
        number: &str,
        caller_id: Option<&str>,
    ) -> crate::pbx::control::ControlResult {
        let endpoint = self.originate.endpoint(extension);
        let context = &self.originate.context;
        let channel = self
            .rest
            .originate(&endpoint, number, context, caller_id)
            .await?;
        Ok(crate::pbx::control::Done {
            message: None,
            channel: Some(channel.id),
            recording: None,
        })
    }

    async fn hangup(
        &self,
        call: &crate::pbx::control::CallRef,
    ) -> crate::pbx::control::ControlResult {
        let channel = call.channel()?;
        self.rest.hangup(channel).await?;
        Ok(crate::pbx::control::Done {
            message: None,
            channel: Some(channel.to_owned()),
            recording: None,
        })
    }

    async fn record(&self, channel: &str, name: &str) -> crate::pbx::control::ControlResult {
        let recording = self
            .rest
            .record(&format!("channel:{channel}"), name, "wav")
            .await?;
        Ok(crate::pbx::control::Done {
            message: None,
            channel: Some(channel.to_owned()),
            recording: Some(recording.name),
        })
    }

    async fn stop_recording(
        &self,
        channel: &str,
        name: Option<&str>,
    ) -> crate::pbx::control::ControlResult {
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            return Err(crate::pbx::control::ControlFailure::Invalid(
                "ARI stops a recording by its name: give the \"file\" record.start answered".into(),
            ));
        };
        self.rest.stop_recording(name).await?;
        Ok(crate::pbx::control::Done {
            message: None,
            channel: Some(channel.to_owned()),
            recording: Some(name.to_owned()),
        })
    }
}

/// The ARI base URL as the connector uses it (`http://host:8088`, or with the http.conf
/// `prefix`, `http://host:8088/asterisk`): a URL copied with its `/ari` path, or with a
/// trailing `/`, is read the same; one that cannot be a base URL is refused with the fix.
pub(crate) fn base_url(url: &str) -> Result<String, String> {
    let fix = "use the ARI base URL, e.g. \"http://192.0.2.10:8088\" (without /ari)";
    let uri: axum::http::Uri = url.trim().parse().map_err(|_| fix.to_owned())?;
    let scheme = match uri.scheme_str() {
        Some(s @ ("http" | "https")) => s,
        _ => return Err(fix.to_owned()),
    };
    let Some(authority) = uri.authority().filter(|a| !a.host().is_empty()) else {
        return Err(fix.to_owned());
    };
    if uri.query().is_some() || authority.as_str().contains('@') {
        return Err(format!(
            "{fix}; no query and no user name (they have their own keys)"
        ));
    }
    let path = uri.path().trim_end_matches('/');
    let path = path
        .strip_suffix("/ari")
        .unwrap_or(path)
        .trim_end_matches('/');
    Ok(format!("{scheme}://{authority}{path}"))
}

pub mod config;
pub mod ivr;
pub mod model;
pub mod rest;
pub mod session;

#[cfg(test)]
mod tests {
    use super::base_url;

    #[test]
    fn base_urls_copied_with_their_ari_path_are_read_the_same_and_wrong_ones_refused() {
        for url in [
            "http://192.0.2.10:8088",
            "http://192.0.2.10:8088/",
            "http://192.0.2.10:8088/ari",
            "http://192.0.2.10:8088/ari/",
        ] {
            assert_eq!(
                base_url(url).as_deref(),
                Ok("http://192.0.2.10:8088"),
                "{url}"
            );
        }
        assert_eq!(
            base_url("https://pbx.example.net/asterisk/ari").as_deref(),
            Ok("https://pbx.example.net/asterisk")
        );
        for bad in [
            "192.0.2.10:8088",
            "ws://h:8088",
            "http://u:p@h:8088",
            "http://h/ari?x=1",
            "",
        ] {
            let e = base_url(bad).unwrap_err();
            assert!(e.contains("without /ari"), "{bad}: {e}");
        }
    }
}
