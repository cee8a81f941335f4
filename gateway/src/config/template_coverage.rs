//! `pbxgw config-template` shows every key the configuration types accept (compiled only
//! under #[cfg(test)]).
//!
//! The types list their own keys: every section refuses unknown keys, and serde's refusal
//! names all the keys the section would take ("expected one of `url`, `token`, …"). The test
//! puts an unknown key into each section and checks every key it is told about against the
//! template, recursing into sub-sections; `[[pbx]]` blocks are checked per kind against the
//! kinds' own key lists.

use std::collections::{BTreeMap, BTreeSet};

use super::*;

const PROBE: &str = "zzprobe";

/// The template's sections (`uplink.mqtt`, `pbx`), with the keys each shows, commented out or
/// not; `[[pbx]]` blocks are keyed `pbx/<kind>`.
fn template_sections() -> BTreeMap<String, BTreeSet<String>> {
    let mut sections: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut current = String::new();
    sections.insert(current.clone(), BTreeSet::new());
    for line in TEMPLATE.lines() {
        let line = line.trim_start_matches('#').trim();
        let code = line.split(" #").next().unwrap_or("").trim();
        if let Some(name) = code.strip_prefix('[') {
            current = name.trim_matches(['[', ']']).to_owned();
            sections.entry(current.clone()).or_default();
        } else if let Some((key, value)) = code.split_once('=') {
            let key = key.trim();
            if key.is_empty() || !key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                continue;
            }
            if current == "pbx" && key == "kind" {
                // The block's keys before its kind (its name) belong to that kind.
                let before = std::mem::take(sections.entry(current.clone()).or_default());
                current = format!("pbx/{}", value.trim().trim_matches('"'));
                sections.entry(current.clone()).or_default().extend(before);
            }
            sections
                .entry(current.clone())
                .or_default()
                .insert(key.to_owned());
        }
    }
    sections
}

/// The keys the types accept in `section` (a dotted path; array-of-tables parents are
/// given in `arrays`), from serde's refusal of an unknown one.
fn accepted_keys(section: &str, arrays: &BTreeSet<String>) -> Vec<String> {
    let mut text = String::new();
    if section != "gateway" {
        text += "[gateway]\nid = \"a\"\n";
    }
    let mut path = String::new();
    for part in section.split('.').filter(|p| !p.is_empty()) {
        if !path.is_empty() {
            path.push('.');
        }
        path += part;
        if arrays.contains(&path) {
            text += &format!("[[{path}]]\n");
            if path == "pbx" {
                text += "kind = \"ari\"\n";
            }
        }
    }
    if section.is_empty() {
        text = format!("{PROBE} = 1\n{text}");
    } else {
        if !arrays.contains(section) {
            text += &format!("[{section}]\n");
        }
        text += &format!("{PROBE} = 1\n");
    }
    let error = Config::from_toml(&text, Path::new("probe.toml"))
        .expect_err("an unknown key is refused")
        .to_string();
    let expected = error
        .split_once("expected")
        .unwrap_or_else(|| panic!("no key list in the refusal of {text:?}: {error}"))
        .1;
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// `key` is shown in `keys` itself or, for a secret, as one of its sources.
fn shown(key: &str, keys: &BTreeSet<String>) -> bool {
    [key.to_owned(), format!("{key}_env"), format!("{key}_file")]
        .iter()
        .any(|k| keys.contains(k))
}

fn missing_in(
    section: &str,
    sections: &BTreeMap<String, BTreeSet<String>>,
    arrays: &BTreeSet<String>,
    missing: &mut Vec<String>,
) {
    let keys = sections.get(section).cloned().unwrap_or_default();
    for key in accepted_keys(section, arrays) {
        let sub = if section.is_empty() {
            key.clone()
        } else {
            format!("{section}.{key}")
        };
        let has_section = sections
            .keys()
            .any(|s| *s == sub || s.starts_with(&format!("{sub}.")));
        if shown(&key, &keys) && !has_section {
            continue;
        }
        if has_section {
            if sub != "pbx" {
                missing_in(&sub, sections, arrays, missing);
            }
        } else {
            missing.push(sub);
        }
    }
}

#[test]
fn every_key_the_types_accept_is_in_the_template() {
    let sections = template_sections();
    let arrays: BTreeSet<String> = TEMPLATE
        .lines()
        .filter_map(|l| {
            let l = l.trim_start_matches('#').trim();
            l.strip_prefix("[[")
                .and_then(|r| r.split_once("]]"))
                .map(|(name, _)| name.to_owned())
        })
        .collect();
    let mut missing = Vec::new();
    missing_in("", &sections, &arrays, &mut missing);
    for kind in PbxKind::ALL {
        let keys = sections
            .get(&format!("pbx/{}", kind.as_str()))
            .cloned()
            .unwrap_or_default();
        for key in kind.keys().iter().chain(&["name", "kind"]) {
            let is_secret_source = ["_env", "_file", "_credential"]
                .iter()
                .any(|s| key.ends_with(s));
            let nested = sections.contains_key(&format!("pbx.{key}"));
            if nested {
                missing_in(&format!("pbx.{key}"), &sections, &arrays, &mut missing);
            } else if !shown(key, &keys) && !is_secret_source {
                missing.push(format!("pbx (kind = \"{}\").{key}", kind.as_str()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "keys the configuration accepts but `pbxgw config-template` does not show: {missing:#?}"
    );
}

#[test]
fn the_probe_sees_a_section_the_template_lacks() {
    let arrays = BTreeSet::new();
    let keys = accepted_keys("uplink", &arrays);
    assert!(keys.contains(&"webhook".to_owned()), "{keys:?}");
    let webhook = accepted_keys("uplink.webhook", &arrays);
    assert!(webhook.contains(&"kinds".to_owned()), "{webhook:?}");
}
