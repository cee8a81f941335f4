//! Each PBX kind has its own keys (listed beside its connector, `pbx/*/mod.rs`): a key of
//! another kind in a `[[pbx]]` block is a mistake (a copied block, a kind changed by hand)
//! that would otherwise pass silently, so it is refused by name and line. The value is never
//! shown: the key may be a secret (`pin` under an AMI block).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::parse_error::line_at;
use super::{PbxConfig, PbxKind, Problem};

/// Keys every kind has.
const COMMON: [&str; 4] = ["name", "kind", "host", "port"];

fn keys_of(kind: PbxKind) -> &'static [&'static str] {
    match kind {
        PbxKind::Ctip => crate::pbx::ctip::CONFIG_KEYS,
        PbxKind::Ami => crate::pbx::ami::CONFIG_KEYS,
        PbxKind::Ari => crate::pbx::ari::CONFIG_KEYS,
    }
}

/// The `[[pbx]]` blocks as written: each key with where it stands.
#[derive(Deserialize)]
struct Written {
    #[serde(default)]
    pbx: Vec<BTreeMap<toml::Spanned<String>, serde::de::IgnoredAny>>,
}

/// Problems for keys of another kind, `pbx[i].key (line N)`, in the file's order.
pub(super) fn foreign_keys(text: &str, pbx: &[PbxConfig]) -> Vec<Problem> {
    // The file parsed already; a second reading that fails has nothing to add.
    let Ok(written) = toml::from_str::<Written>(text) else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    for (i, (block, config)) in written.pbx.iter().zip(pbx).enumerate() {
        let own = keys_of(config.kind);
        for key in block.keys() {
            let name = key.get_ref().as_str();
            if COMMON.contains(&name) || own.contains(&name) {
                continue;
            }
            let line = line_at(text, key.span().start);
            let of: Vec<&str> = [PbxKind::Ctip, PbxKind::Ami, PbxKind::Ari]
                .into_iter()
                .filter(|k| keys_of(*k).contains(&name))
                .map(PbxKind::as_str)
                .collect();
            problems.push(Problem {
                key: format!("pbx[{i}].{name} (line {line})"),
                value: "…".into(),
                fix: format!(
                    "a key of kind = {:?} PBXs, not of this kind = \"{}\" one: remove it (or fix the kind)",
                    of.join("/"),
                    config.kind.as_str()
                ),
            });
        }
    }
    problems
}
