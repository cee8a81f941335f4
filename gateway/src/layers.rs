//! The layers of DESIGN.md, checked: which stage may import which. The data path runs
//! `pbx` (connectors) -> `calls` (correlation) -> `store` -> `uplink` / `sms` / `api`; a stage
//! never reaches downstream of itself, so a connector cannot depend on how events leave the
//! box, and the store knows neither the uplinks nor SMS (they register with it: sink names,
//! the [`crate::store::BatchHook`]). Every link's state and reconnect loop live in
//! [`crate::link`], below all stages. The bottom modules (clock, TLS, backoff, time formats)
//! import nothing of the crate, so anything may use them.

use std::path::{Path, PathBuf};

/// (folder or file under `src/`, the crate modules it must not import)
const RULES: [(&str, &[&str]); 8] = [
    (
        "pbx",
        &[
            "store", "uplink", "sms", "api", "commands", "runtime", "cli", "contacts", "health",
            "calls",
        ],
    ),
    (
        "link",
        &[
            "calls", "store", "uplink", "sms", "api", "commands", "runtime", "cli", "pbx",
            "health", "contacts", "config",
        ],
    ),
    (
        "calls",
        &[
            "uplink", "sms", "api", "commands", "runtime", "cli", "health",
        ],
    ),
    (
        "store",
        &[
            "uplink", "sms", "api", "commands", "runtime", "cli", "pbx", "health",
        ],
    ),
    ("clock.rs", &["*"]),
    ("tls.rs", &["*"]),
    ("backoff.rs", &["*"]),
    ("timefmt.rs", &["*"]),
];

fn sources(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_file() {
        out.push(path.to_owned());
        return;
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return;
    };
    for entry in entries.flatten() {
        let p = entry.path();
        if p.is_dir() || p.extension().is_some_and(|e| e == "rs") {
            sources(&p, out);
        }
    }
}

/// `crate::x` paths in the code of `text` (comments left out), with their line numbers.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or_default();
        for (i, _) in code.match_indices("crate::") {
            let module: String = code[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            found.push((n + 1, module));
        }
    }
    found
}

#[test]
fn no_stage_imports_what_lies_downstream_of_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut broken = Vec::new();
    for (place, forbidden) in RULES {
        let mut files = Vec::new();
        sources(&src.join(place), &mut files);
        assert!(!files.is_empty(), "{place} has no sources");
        // A stage's test files may run it together with the next stage (a codec's
        // property test feeding the correlator); the rules are for the code that ships.
        for file in files.into_iter().filter(|f| !f.ends_with("tests.rs")) {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            for (line, module) in crate_paths(&text) {
                if forbidden.contains(&"*") || forbidden.contains(&module.as_str()) {
                    let file = file
                        .strip_prefix(&src)
                        .unwrap_or(&file)
                        .display()
                        .to_string();
                    broken.push(format!("{file}:{line}: crate::{module}"));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "imports against the layers:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_checker_sees_imports_and_skips_comments() {
    let text = "use crate::store::Appender;\n// crate::uplink in a comment\nlet x = crate::clock::now_ms(); // crate::sms";
    assert_eq!(
        crate_paths(text),
        [(1, "store".to_owned()), (3, "clock".to_owned())]
    );
}
