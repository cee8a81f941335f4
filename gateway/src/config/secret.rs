//! Secrets in the file: inline, from an environment variable (`x_env`), a file (`x_file`) or a
//! systemd credential (`x_credential`: `$CREDENTIALS_DIRECTORY/<name>`, which the unit's
//! `LoadCredential=` fills), exactly one of them, read before the file is typed; held in [`Secret`], which never prints
//! its value.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::parse_error::line_at;
use super::Problem;

/// A secret value. It is never printed: `Debug`/`Display` show `***`. In the file it is a
/// string, or digits (a PIN written as a number is the digits it is).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Text(String),
            Digits(u64),
        }
        match Written::deserialize(d) {
            Ok(Written::Text(s)) => Ok(Secret(s)),
            Ok(Written::Digits(n)) => Ok(Secret(n.to_string())),
            // The default message of an untagged enum names no value; say what is expected.
            Err(_) => Err(serde::de::Error::custom(
                "a secret is a quoted string (or the digits of a PIN)",
            )),
        }
    }
}

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for handing to a protocol. Never log the result.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The keys that hold secrets. For each, the file may give the value inline (`password`), name
/// an environment variable (`password_env`) or a file (`password_file`); the sources are read
/// before the file is typed, so a struct holds one `Option<Secret>` field per secret. A new
/// secret is that field and its name here.
const SECRET_KEYS: [&str; 6] = ["pin", "gsm_pin", "secret", "password", "token", "url"];

/// Whether `key` holds a secret (and so may be given as `key_env`, `key_file` or
/// `key_credential`).
pub(super) fn is_secret(key: &str) -> bool {
    SECRET_KEYS.contains(&key)
}

/// Where a secret comes from, by the suffix of its key.
#[derive(Clone, Copy)]
enum Source {
    Env,
    File,
    Credential,
}

impl Source {
    /// `password_env` → (`password`, Env); a key that names no secret source → None.
    fn of(key: &str) -> Option<(&'static str, Source)> {
        let (stem, source) = if let Some(stem) = key.strip_suffix("_env") {
            (stem, Source::Env)
        } else if let Some(stem) = key.strip_suffix("_credential") {
            (stem, Source::Credential)
        } else {
            (key.strip_suffix("_file")?, Source::File)
        };
        let stem = SECRET_KEYS.into_iter().find(|s| *s == stem)?;
        Some((stem, source))
    }

    /// The secret named by `reference` (a variable name, a path or a credential's name), or
    /// the installer's fix.
    fn read(self, reference: &str) -> Result<String, String> {
        match self {
            Source::Credential => {
                let valid = !reference.is_empty()
                    && !reference.contains('/')
                    && reference != "."
                    && reference != "..";
                if !valid {
                    return Err(
                        "write the credential's name (as in LoadCredential=NAME:PATH), not a path"
                            .into(),
                    );
                }
                let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") else {
                    return Err(format!(
                        "CREDENTIALS_DIRECTORY is not set: run under systemd with LoadCredential={reference}:/etc/credstore/{reference} in the unit (systemctl edit pbxgw)"
                    ));
                };
                // The unit loads the directory /etc/credstore/pbxgw, whose files systemd names
                // `pbxgw_<file>`; the file's own name is what the installer knows.
                let dir = std::path::Path::new(&dir);
                let path = [reference.to_owned(), format!("pbxgw_{reference}")]
                    .into_iter()
                    .map(|name| dir.join(name))
                    .find(|p| p.exists())
                    .unwrap_or_else(|| dir.join(reference));
                Source::File.read(&path.to_string_lossy())
            }
            Source::Env => match std::env::var(reference) {
                Ok(v) if !v.is_empty() => Ok(v),
                _ => Err(format!(
                    "the environment variable {reference} is not set or empty; export it"
                )),
            },
            Source::File => match std::fs::read_to_string(reference) {
                Ok(v) if !v.trim_end_matches(['\r', '\n']).is_empty() => {
                    Ok(v.trim_end_matches(['\r', '\n']).to_owned())
                }
                Ok(_) => Err("the file is empty; put the secret in it".into()),
                Err(e) => Err(format!(
                    "cannot read it ({e}); check the path and permissions"
                )),
            },
        }
    }
}

/// Replaces every `x_env`/`x_file` key of the parsed file by `x` holding the secret it names,
/// keeping where it was written (errors found later still point at the line). Each problem
/// names the key, its line and the fix; the secret itself is never shown.
pub(super) fn read_secret_sources(doc: &mut DeTable<'_>, text: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    read_in_table(doc, "", text, &mut problems);
    problems
}

fn read_in_table(table: &mut DeTable<'_>, path: &str, text: &str, problems: &mut Vec<Problem>) {
    let at = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    for (key, value) in table.iter_mut() {
        match value.get_mut() {
            DeValue::Table(inner) => read_in_table(inner, &at(key.get_ref()), text, problems),
            DeValue::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    if let DeValue::Table(inner) = item.get_mut() {
                        read_in_table(
                            inner,
                            &format!("{}[{i}]", at(key.get_ref())),
                            text,
                            problems,
                        );
                    }
                }
            }
            _ => {}
        }
    }
    let sources: Vec<(String, &str, Source)> = table
        .keys()
        .filter_map(|k| {
            let (stem, source) = Source::of(k.get_ref())?;
            Some((k.get_ref().to_string(), stem, source))
        })
        .collect();
    for (key, stem, source) in sources {
        let Some((written_key, written)) = table.remove_entry(key.as_str()) else {
            continue;
        };
        let line = line_at(text, written_key.span().start);
        if table.contains_key(stem) {
            problems.push(Problem {
                key: format!("{} (line {line})", at(stem)),
                value: "(set more than once)".into(),
                fix: format!("use only one of {stem}, {stem}_env, {stem}_file, {stem}_credential"),
            });
            continue;
        }
        let span = written.span();
        let DeValue::String(reference) = written.into_inner() else {
            problems.push(Problem {
                key: format!("{} (line {line})", at(&key)),
                value: "…".into(),
                fix: "write the variable name or the path as a quoted string".into(),
            });
            continue;
        };
        match source.read(&reference) {
            Ok(secret) => {
                table.insert(
                    Spanned::new(written_key.span(), Cow::Borrowed(stem)),
                    Spanned::new(span, DeValue::String(Cow::Owned(secret))),
                );
            }
            Err(fix) => problems.push(Problem {
                key: format!("{} (line {line})", at(&key)),
                value: format!("{reference:?}"),
                fix,
            }),
        }
    }
}
