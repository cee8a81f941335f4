//! What the two Asterisk connectors (AMI and ARI) share: how a channel name names an
//! extension, and where a click-to-call rings first.

/// `Local/205@ext-00000022;1` -> `205`, `PJSIP/201-0000001a` -> `201`,
/// `Local/301@agents/n` -> `301`, `PJSIP/201` -> `201`.
pub(crate) fn extension_of(channel: &str) -> String {
    let rest = channel.split_once('/').map_or(channel, |(_, r)| r);
    if let Some((ext, _)) = rest.split_once('@') {
        return ext.to_owned();
    }
    let rest = rest.split('/').next().unwrap_or(rest);
    match rest.rsplit_once('-') {
        Some((name, seq)) if seq.len() == 8 && seq.bytes().all(|b| b.is_ascii_hexdigit()) => {
            name.to_owned()
        }
        _ => rest.to_owned(),
    }
}

/// Where a click-to-call rings first and dials from.
#[derive(Debug, Clone)]
pub struct OriginateSettings {
    /// `PJSIP/{extension}`.
    pub channel: String,
    pub context: String,
}

impl OriginateSettings {
    /// `originate_channel` / `originate_context` of a `[[pbx]]` (AMI and ARI alike).
    pub fn new(channel: &str, context: &str) -> OriginateSettings {
        OriginateSettings {
            channel: channel.to_owned(),
            context: context.to_owned(),
        }
    }

    /// The dial string that rings `extension` first.
    pub fn endpoint(&self, extension: &str) -> String {
        self.channel.replace("{extension}", extension)
    }
}

impl Default for OriginateSettings {
    fn default() -> Self {
        OriginateSettings {
            channel: "PJSIP/{extension}".into(),
            context: "from-internal".into(),
        }
    }
}

/// `originate_channel` must say where the agent's extension goes.
/// `recording_url_base` is an http(s) URL and `recording_dir` an absolute path.
pub(crate) fn validate_recording_links(
    base: Option<&str>,
    dir: &str,
    s: &mut crate::config::Section<'_>,
) {
    let web = |b: &str| b.starts_with("https://") || b.starts_with("http://");
    if let Some(base) = base.filter(|b| !web(b) || b.contains(char::is_whitespace)) {
        s.problem(
            "recording_url_base",
            &format!("{base:?}"),
            "use an http:// or https:// URL, e.g. \"https://recordings.example.com/monitor\"",
        );
    }
    if !dir.starts_with('/') {
        s.problem(
            "recording_dir",
            &format!("{dir:?}"),
            "use the absolute directory the PBX writes recordings to",
        );
    }
}

pub(crate) fn validate_originate(channel: &str, s: &mut crate::config::Section<'_>) {
    if !channel.contains("{extension}") {
        s.problem(
            "originate_channel",
            &channel,
            "use a dial string with {extension}, e.g. \"PJSIP/{extension}\"",
        );
    }
}
