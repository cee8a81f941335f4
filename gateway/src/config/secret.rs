//! Secrets in the file: inline, from an environment variable (`x_env`) or a file (`x_file`),
//! exactly one of them; held in [`Secret`], which never prints its value.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

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
    pub fn expose(&self) -> &str {
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

/// Fills `value` from `<name>_env` or `<name>_file` when given; exactly one source is allowed.
pub(super) fn resolve_secret(
    section: &str,
    name: &str,
    value: &mut Option<Secret>,
    env: &Option<String>,
    file: &Option<PathBuf>,
    problems: &mut Vec<Problem>,
) {
    let sources = value.is_some() as u8 + env.is_some() as u8 + file.is_some() as u8;
    if sources > 1 {
        problems.push(Problem {
            key: format!("{section}.{name}"),
            value: "(set more than once)".into(),
            fix: format!("use only one of {name}, {name}_env, {name}_file"),
        });
        return;
    }
    if let Some(var) = env {
        match std::env::var(var) {
            Ok(v) if !v.is_empty() => *value = Some(Secret(v)),
            _ => problems.push(Problem {
                key: format!("{section}.{name}_env"),
                value: format!("{var:?}"),
                fix: format!("the environment variable {var} is not set or empty; export it"),
            }),
        }
    }
    if let Some(path) = file {
        match std::fs::read_to_string(path) {
            Ok(v) if !v.trim_end_matches(['\r', '\n']).is_empty() => {
                *value = Some(Secret(v.trim_end_matches(['\r', '\n']).to_owned()))
            }
            Ok(_) => problems.push(Problem {
                key: format!("{section}.{name}_file"),
                value: path.display().to_string(),
                fix: "the file is empty; put the secret in it".into(),
            }),
            Err(e) => problems.push(Problem {
                key: format!("{section}.{name}_file"),
                value: path.display().to_string(),
                fix: format!("cannot read it ({e}); check the path and permissions"),
            }),
        }
    }
}
