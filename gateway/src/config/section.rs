//! What a section's own `validate` reports into: every problem named by its full key
//! (`pbx[0].resync_every_s`), so a section needs to know nothing of where it stands.

use std::fmt;
use std::ops::RangeInclusive;

use super::Problem;

pub(crate) struct Section<'a> {
    at: String,
    problems: &'a mut Vec<Problem>,
}

impl<'a> Section<'a> {
    pub(super) fn new(at: String, problems: &'a mut Vec<Problem>) -> Self {
        Section { at, problems }
    }

    pub fn key(&self, key: &str) -> String {
        format!("{}.{key}", self.at)
    }

    pub fn problem(&mut self, key: &str, value: &dyn fmt::Display, fix: &str) {
        let key = self.key(key);
        self.problems.push(Problem {
            key,
            value: value.to_string(),
            fix: fix.into(),
        });
    }

    /// Every number with a unit has an allowed range; outside it is an error, never a clamp.
    pub fn range(&mut self, key: &str, value: u64, range: RangeInclusive<u64>, unit: &str) {
        if !range.contains(&value) {
            let fix = format!("use {} to {} {unit}", range.start(), range.end());
            self.problem(key, &value, &fix);
        }
    }

    /// A key this kind of block cannot do without.
    pub(crate) fn required(&mut self, key: &str, present: bool, kind: &str) {
        if !present {
            let fix = if super::secret::is_secret(key) {
                format!("required for kind = \"{kind}\"; set {key}, {key}_env, {key}_file or {key}_credential")
            } else {
                format!("required for kind = \"{kind}\"; set {key}")
            };
            self.problem(key, &"(missing)", &fix);
        }
    }

    /// The PBX's address, which a TCP link cannot do without.
    pub(crate) fn address(&mut self, host: &str, port: u16) {
        if host.is_empty() {
            self.problem(
                "host",
                &"(missing)",
                "set the PBX's IP address or host name",
            );
        }
        if port == 0 {
            self.problem("port", &0, "use the PBX's TCP port (1..65535)");
        }
    }

    /// The same checks for a nested table (`pbx[0].ivr`).
    pub(crate) fn nested(&mut self, name: &str) -> Section<'_> {
        Section {
            at: self.key(name),
            problems: self.problems,
        }
    }
}
