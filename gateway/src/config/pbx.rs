//! `[[pbx]]`: one block per PBX link. Its `kind` picks the struct its keys are read with, each
//! beside its connector (`pbx/*/config.rs`) with its own defaults and checks.

use serde::Deserialize;

pub(crate) use crate::pbx::ami::config::AmiConfig;
pub(crate) use crate::pbx::ari::config::AriConfig;
pub(crate) use crate::pbx::ctip::config::CtipConfig;

use super::Section;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PbxKind {
    Ctip,
    Ami,
    Ari,
}

impl PbxKind {
    pub(crate) const ALL: [PbxKind; 3] = [PbxKind::Ctip, PbxKind::Ami, PbxKind::Ari];

    pub fn as_str(self) -> &'static str {
        match self {
            PbxKind::Ctip => "ctip",
            PbxKind::Ami => "ami",
            PbxKind::Ari => "ari",
        }
    }

    pub(super) fn by_name(name: &str) -> Option<PbxKind> {
        PbxKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The keys a block of this kind may hold besides `name` and `kind`.
    pub(super) fn keys(self) -> &'static [&'static str] {
        match self {
            PbxKind::Ctip => crate::pbx::ctip::config::CONFIG_KEYS,
            PbxKind::Ami => crate::pbx::ami::config::CONFIG_KEYS,
            PbxKind::Ari => crate::pbx::ari::config::CONFIG_KEYS,
        }
    }
}

/// A `[[pbx]]` block read with its kind's own keys. In the file the kind is a key of the
/// block (`kind = "ami"`); it is turned into the variant's name before the block is typed
/// (see `pbx_keys`), so every error inside the block still names its key and line.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PbxConfig {
    Ctip(CtipConfig),
    Ami(AmiConfig),
    Ari(AriConfig),
}

impl PbxConfig {
    pub fn name(&self) -> &str {
        match self {
            PbxConfig::Ctip(c) => &c.name,
            PbxConfig::Ami(c) => &c.name,
            PbxConfig::Ari(c) => &c.name,
        }
    }

    /// How this PBX's recordings are linked, when `recording_url_base` is set (AMI, ARI).
    pub fn recording_links(&self) -> Option<crate::calls::recording_link::RecordingLinks> {
        let (base, dir) = match self {
            PbxConfig::Ctip(_) => return None,
            PbxConfig::Ami(c) => (c.recording_url_base.as_deref()?, &c.recording_dir),
            PbxConfig::Ari(c) => (c.recording_url_base.as_deref()?, &c.recording_dir),
        };
        Some(crate::calls::recording_link::RecordingLinks::new(base, dir))
    }

    pub fn kind(&self) -> PbxKind {
        match self {
            PbxConfig::Ctip(_) => PbxKind::Ctip,
            PbxConfig::Ami(_) => PbxKind::Ami,
            PbxConfig::Ari(_) => PbxKind::Ari,
        }
    }

    /// The CTIP block's, when this is a CTIP PBX.
    pub(crate) fn as_ctip(&self) -> Option<&CtipConfig> {
        match self {
            PbxConfig::Ctip(c) => Some(c),
            _ => None,
        }
    }

    pub(super) fn validate(&self, s: &mut Section<'_>) {
        match self {
            PbxConfig::Ctip(c) => c.validate(s),
            PbxConfig::Ami(c) => c.validate(s),
            PbxConfig::Ari(c) => c.validate(s),
        }
    }
}
