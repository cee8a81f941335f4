//! What `pbxgw check --connect` finds on one link.

use std::fmt;

/// One step of the installer's checklist: the link works (and what the far side said), or
/// it fails, with the error and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckStep {
    Works(String),
    Fails {
        error: String,
        /// What the installer should check; empty when the error says it all.
        fix: String,
    },
}

impl CheckStep {
    /// A failure with the installer's next step.
    pub fn fails(error: impl fmt::Display, fix: impl Into<String>) -> CheckStep {
        CheckStep::Fails {
            error: error.to_string(),
            fix: fix.into(),
        }
    }

    /// A failure the error explains by itself.
    pub fn failed(error: impl fmt::Display) -> CheckStep {
        CheckStep::fails(error, "")
    }

    pub(crate) fn works(&self) -> bool {
        matches!(self, CheckStep::Works(_))
    }
}

impl<E: fmt::Display> From<Result<String, E>> for CheckStep {
    fn from(r: Result<String, E>) -> CheckStep {
        match r {
            Ok(found) => CheckStep::Works(found),
            Err(e) => CheckStep::failed(e),
        }
    }
}

/// As the checklist prints it: `<what it found>`, or `FAILED - <error>. <fix>`.
impl fmt::Display for CheckStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckStep::Works(found) => f.write_str(found),
            CheckStep::Fails { error, fix } if fix.is_empty() => write!(f, "FAILED - {error}"),
            CheckStep::Fails { error, fix } => write!(f, "FAILED - {error}. {fix}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_prints_what_it_found_or_the_error_and_the_fix() {
        assert_eq!(CheckStep::Works("up".into()).to_string(), "up");
        assert_eq!(
            CheckStep::fails("login refused", "Check the pin").to_string(),
            "FAILED - login refused. Check the pin"
        );
        assert_eq!(
            CheckStep::failed("no route").to_string(),
            "FAILED - no route"
        );
        assert!(!CheckStep::from(Err::<String, _>("x")).works());
    }
}
