//! Phone numbers as E.164 (`+48601234567`), the one form the SMS queue and the contact
//! directory match on. The numbering plan comes from `[sms]` (`country_code`,
//! `outside_line_prefix`, `min_national_digits`).

/// How the PBX writes outside numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberPlan {
    /// Country calling code for numbers without one (`48`).
    pub country_code: String,
    /// A prefix the PBX puts before outside numbers (`0`), stripped first.
    pub outside_line_prefix: Option<String>,
    /// Shorter numbers are internal extensions.
    pub min_national_digits: usize,
}

/// Why a number has no E.164 form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    #[error("the caller's number is withheld")]
    Withheld,
    #[error("{0:?} is an internal number")]
    Internal(String),
    #[error("{0:?} is not a phone number")]
    NotANumber(String),
}

/// The number as E.164: international forms kept, the outside-line prefix stripped, national
/// numbers given the country code; short ones are internal.
pub fn e164(number: &str, plan: &NumberPlan) -> Result<String, NumberError> {
    let raw = number.trim();
    let lower = raw.to_ascii_lowercase();
    if raw.is_empty()
        || [
            "anonymous",
            "unknown",
            "<unknown>",
            "restricted",
            "private",
            "withheld",
        ]
        .contains(&lower.as_str())
    {
        return Err(NumberError::Withheld);
    }
    let compact: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.' | '/'))
        .collect();
    let (international, digits) = match compact.strip_prefix('+') {
        Some(d) => (true, d.to_owned()),
        None => (false, compact.clone()),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NumberError::NotANumber(raw.to_owned()));
    }
    if international {
        return Ok(format!("+{digits}"));
    }
    if let Some(intl) = digits.strip_prefix("00") {
        return Ok(format!("+{intl}"));
    }
    let digits = match plan.outside_line_prefix.as_deref() {
        Some(p) if digits.len() > p.len() && digits.starts_with(p) => digits[p.len()..].to_owned(),
        _ => digits,
    };
    if let Some(intl) = digits.strip_prefix("00") {
        return Ok(format!("+{intl}"));
    }
    if digits.len() < plan.min_national_digits {
        return Err(NumberError::Internal(raw.to_owned()));
    }
    if digits.starts_with(plan.country_code.as_str()) && digits.len() > plan.min_national_digits {
        return Ok(format!("+{digits}"));
    }
    Ok(format!("+{}{digits}", plan.country_code))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> NumberPlan {
        NumberPlan {
            country_code: "48".into(),
            outside_line_prefix: Some("0".into()),
            min_national_digits: 9,
        }
    }

    #[test]
    fn numbers_become_e164_or_are_refused() {
        let plan = plan();
        let n = |s: &str| e164(s, &plan);
        assert_eq!(n("+48 601-234-567").as_deref(), Ok("+48601234567"));
        assert_eq!(n("601234567").as_deref(), Ok("+48601234567"));
        assert_eq!(n("0601234567").as_deref(), Ok("+48601234567"));
        assert_eq!(n("(22) 601.23.45").as_deref(), Ok("+48226012345"));
        assert_eq!(n("00491701234567").as_deref(), Ok("+491701234567"));
        assert_eq!(n("048601234567").as_deref(), Ok("+48601234567"));
        assert_eq!(n("201"), Err(NumberError::Internal("201".into())));
        assert_eq!(n(""), Err(NumberError::Withheld));
        assert_eq!(n("Anonymous"), Err(NumberError::Withheld));
        assert_eq!(n("<unknown>"), Err(NumberError::Withheld));
        assert_eq!(n("12ab"), Err(NumberError::NotANumber("12ab".into())));
    }
}
