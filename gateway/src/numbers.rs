//! Phone numbers as E.164 (`+48601234567`), the one form the SMS queue, the contact
//! directory and the number policy work on. The numbering plan comes from `[sms]`
//! (`country_code`, `outside_line_prefix`, `trunk_prefix`, `min_national_digits`).
//!
//! Two sources, two rules:
//!
//! * **Presented by the PBX** ([`e164`]): a configured outside-line prefix comes first and is
//!   stripped once; then `00` is international, the national trunk prefix (`0` in DE and UK,
//!   `1` in the US, none in PL) starts a national number, and in a country without a trunk
//!   prefix a leading `0` can only be the rest of `00`. With country 49 and prefix `0`, the
//!   PBX presenting `0` + `0301234567` is +49 301234567.
//! * **Typed by a person** ([`typed`]: API, MQTT, CLI): no outside-line prefix; `+` and `00`
//!   are international, the trunk prefix starts a national number. With country 49, a typed
//!   `00301234567` is +30 1234567.
//!
//! Who may be texted or called from a command is the [`NumberPolicy`].

/// How numbers are written at this site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberPlan {
    /// Country calling code for numbers without one (`48`).
    pub country_code: String,
    /// A prefix the PBX puts before outside numbers (`0`), stripped first.
    pub outside_line_prefix: Option<String>,
    /// The national trunk prefix (`0` in DE/UK, `1` in the US; none in PL).
    pub trunk_prefix: Option<String>,
    /// Shorter numbers are internal extensions.
    pub min_national_digits: usize,
}

/// The national trunk prefix of a country, for countries whose plan this box knows.
pub(crate) fn default_trunk_prefix(country_code: &str) -> Option<String> {
    match country_code {
        "1" => Some("1".into()),
        "30" | "34" | "39" | "45" | "47" | "48" | "351" | "352" | "420" | "421" => None,
        _ => Some("0".into()),
    }
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
    #[error("{0} is not known to be a mobile number (the rule texts mobiles only)")]
    NotMobile(String),
}

/// The digits of `number` and whether it was written with `+`; withheld and non-numbers
/// refused.
fn digits_of(number: &str) -> Result<(bool, String), NumberError> {
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
    Ok((international, digits))
}

/// A number as the PBX presented it, as E.164 (see the module doc).
pub(crate) fn e164(number: &str, plan: &NumberPlan) -> Result<String, NumberError> {
    let (international, digits) = digits_of(number)?;
    if international {
        return Ok(format!("+{digits}"));
    }
    let outside = plan
        .outside_line_prefix
        .as_deref()
        .filter(|p| digits.len() > p.len() && digits.starts_with(p));
    let Some(outside) = outside else {
        return national_or_international(&digits, number, plan);
    };
    let rest = &digits[outside.len()..]; // ok: `outside` is a prefix of `digits` (filtered above)
    if let Some(intl) = rest.strip_prefix("00") {
        return Ok(format!("+{intl}"));
    }
    if plan.trunk_prefix.is_none() {
        if let Some(intl) = rest.strip_prefix('0') {
            // No national number starts with 0 here: it was the outside prefix before `00`.
            return Ok(format!("+{intl}"));
        }
    }
    national_or_international(rest, number, plan)
}

/// A number typed by a person (API, MQTT, CLI), as E.164 (see the module doc).
pub fn typed(number: &str, plan: &NumberPlan) -> Result<String, NumberError> {
    let (international, digits) = digits_of(number)?;
    if international {
        return Ok(format!("+{digits}"));
    }
    national_or_international(&digits, number, plan)
}

/// `00` international, the trunk prefix national, short numbers internal, a number that
/// already starts with the country code kept, anything else national.
fn national_or_international(
    digits: &str,
    raw: &str,
    plan: &NumberPlan,
) -> Result<String, NumberError> {
    if let Some(intl) = digits.strip_prefix("00") {
        return Ok(format!("+{intl}"));
    }
    let national = match plan.trunk_prefix.as_deref() {
        // ok: `t` is a prefix of `digits`, so its length is a character boundary
        Some(t) if digits.len() > t.len() && digits.starts_with(t) => &digits[t.len()..],
        _ => digits,
    };
    if national.len() < plan.min_national_digits {
        return Err(NumberError::Internal(raw.trim().to_owned()));
    }
    if national.len() == digits.len()
        && digits.starts_with(plan.country_code.as_str())
        && digits.len() > plan.min_national_digits
    {
        return Ok(format!("+{digits}"));
    }
    Ok(format!("+{}{national}", plan.country_code))
}

/// Mobile ranges of the national numbering plans this box knows, as E.164 prefixes, with the
/// ranges inside them that are not mobiles. Sources: the regulators' plans (UKE for Poland,
/// BNetzA for Germany, Ofcom for the UK).
const MOBILE_RANGES: [(&str, &[&str], &[&str]); 3] = [
    (
        "48",
        &[
            "+4845", "+4850", "+4851", "+4853", "+4857", "+4860", "+4866", "+4869", "+4872",
            "+4873", "+4878", "+4879", "+4888",
        ],
        &[],
    ),
    ("49", &["+4915", "+49160", "+49162", "+49163", "+4917"], &[]),
    // 07 is mobile but for 070 (personal numbers) and 076 (pagers), except 07624 (the Isle of
    // Man's mobiles).
    ("44", &["+447", "+447624"], &["+4470", "+4476"]),
];

/// Whether an E.164 number is a mobile: `Some` where the country's plan tells mobiles by their
/// prefix (PL, DE, UK), `None` where it cannot be told (the North American plan gives mobiles
/// and landlines the same area codes) or the country is not known here.
pub fn is_mobile(e164: &str) -> Option<bool> {
    let (_, mobile, not) = MOBILE_RANGES
        .iter()
        .find(|(cc, _, _)| e164.strip_prefix('+').is_some_and(|d| d.starts_with(cc)))?;
    // The longest matching prefix decides (+447624 inside +4476).
    let longest = |ranges: &[&str]| {
        ranges
            .iter()
            .filter(|p| e164.starts_with(**p))
            .map(|p| p.len())
            .max()
    };
    Some(longest(mobile) > longest(not))
}

/// Whether [`is_mobile`] can tell mobiles in a country's numbers.
pub fn tells_mobiles(country_code: &str) -> bool {
    MOBILE_RANGES.iter().any(|(cc, _, _)| *cc == country_code)
}

/// Who a command may text or call: E.164 prefixes allowed (by default the box's own country)
/// and denied (by default its premium-rate ranges), and a maximum length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberPolicy {
    pub allow: Vec<String>,
    pub deny: Vec<String>,
    pub max_digits: usize,
}

/// Why the policy refuses a number; each names its rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyRefusal {
    #[error("{number} has {digits} digits; [numbers] max_digits is {max}")]
    TooLong {
        number: String,
        digits: usize,
        max: usize,
    },
    #[error("{number} matches no [numbers] allow prefix ({allowed})")]
    NotAllowed { number: String, allowed: String },
    #[error("{number} is in a denied range ([numbers] deny {prefix:?})")]
    Denied { number: String, prefix: String },
}

impl NumberPolicy {
    /// The default for a country: only its own numbers, not its premium-rate ranges.
    pub(crate) fn for_country(country_code: &str) -> NumberPolicy {
        let premium: &[&str] = match country_code {
            "48" => &[
                "+48700", "+48701", "+48703", "+48704", "+48705", "+48707", "+48708",
            ],
            "49" => &["+49900", "+49137", "+49118"],
            "44" => &["+4490", "+4491", "+4498", "+44118"],
            "1" => &["+1900", "+1976"],
            _ => &[],
        };
        NumberPolicy {
            allow: vec![format!("+{country_code}")],
            deny: premium.iter().map(|p| p.to_string()).collect(),
            max_digits: 15,
        }
    }

    /// Checks an E.164 number.
    pub fn check(&self, number: &str) -> Result<(), PolicyRefusal> {
        let digits = number.trim_start_matches('+').len();
        if digits > self.max_digits {
            return Err(PolicyRefusal::TooLong {
                number: number.to_owned(),
                digits,
                max: self.max_digits,
            });
        }
        if let Some(prefix) = self.deny.iter().find(|p| number.starts_with(p.as_str())) {
            return Err(PolicyRefusal::Denied {
                number: number.to_owned(),
                prefix: prefix.clone(),
            });
        }
        if !self.allow.iter().any(|p| number.starts_with(p.as_str())) {
            return Err(PolicyRefusal::NotAllowed {
                number: number.to_owned(),
                allowed: self.allow.join(", "),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn mobiles_are_told_by_the_national_plans_prefixes() {
        use super::is_mobile;
        for (number, mobile) in [
            ("+48601234567", Some(true)),   // PL 60x
            ("+48881234567", Some(true)),   // PL 88x
            ("+48451234567", Some(true)),   // PL 45x
            ("+48225551234", Some(false)),  // Warsaw
            ("+48800123456", Some(false)),  // freephone
            ("+4915112345678", Some(true)), // DE 0151
            ("+491701234567", Some(true)),  // DE 0170
            ("+4930123456", Some(false)),   // Berlin
            ("+491801234567", Some(false)), // DE service 0180
            ("+447700900123", Some(true)),  // UK 07700
            ("+447624123456", Some(true)),  // Isle of Man mobile, inside the 076 pagers
            ("+447612345678", Some(false)), // UK pager
            ("+447012345678", Some(false)), // UK personal number
            ("+442079460000", Some(false)), // London
            ("+12025550123", None),         // NANP: mobiles are not told by the number
            ("+33612345678", None),         // a plan this box does not know
        ] {
            assert_eq!(is_mobile(number), mobile, "{number}");
        }
        assert!(super::tells_mobiles("48") && !super::tells_mobiles("1"));
    }

    use super::*;

    fn plan() -> NumberPlan {
        NumberPlan {
            country_code: "48".into(),
            outside_line_prefix: Some("0".into()),
            trunk_prefix: None,
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

    fn plan_of(country: &str, outside: Option<&str>) -> NumberPlan {
        NumberPlan {
            country_code: country.into(),
            outside_line_prefix: outside.map(str::to_owned),
            trunk_prefix: default_trunk_prefix(country),
            min_national_digits: if country == "1" { 10 } else { 9 },
        }
    }

    #[test]
    fn typed_and_presented_numbers_follow_their_own_rules() {
        let de = plan_of("49", Some("0"));
        // A person typing 00 means international; the PBX's outside prefix comes first.
        assert_eq!(typed("00301234567", &de).as_deref(), Ok("+301234567"));
        assert_eq!(e164("00301234567", &de).as_deref(), Ok("+49301234567"));
        assert_eq!(typed("030 1234567", &de).as_deref(), Ok("+49301234567"));
        assert_eq!(e164("000441234567890", &de).as_deref(), Ok("+441234567890"));
        let uk = plan_of("44", Some("9"));
        assert_eq!(typed("020 7946 0958", &uk).as_deref(), Ok("+442079460958"));
        assert_eq!(e164("902079460958", &uk).as_deref(), Ok("+442079460958"));
        assert_eq!(e164("900331234567890", &uk).as_deref(), Ok("+331234567890"));
        let us = plan_of("1", None);
        assert_eq!(
            typed("1 (212) 555-0100", &us).as_deref(),
            Ok("+12125550100")
        );
        assert_eq!(typed("212-555-0100", &us).as_deref(), Ok("+12125550100"));
        assert_eq!(typed("0048601234567", &us).as_deref(), Ok("+48601234567"));
        let pl = plan_of("48", None);
        assert_eq!(typed("601 234 567", &pl).as_deref(), Ok("+48601234567"));
        assert_eq!(typed("0048601234567", &pl).as_deref(), Ok("+48601234567"));
        assert_eq!(typed("101", &pl), Err(NumberError::Internal("101".into())));
    }

    #[test]
    fn the_policy_allows_the_own_country_and_names_the_rule_it_refuses_by() {
        let pl = NumberPolicy::for_country("48");
        assert_eq!(pl.check("+48601234567"), Ok(()));
        // `0090 900...` typed for sms.send: another country, and a premium range.
        let typed_turkish = typed("0090 9001234567", &plan_of("48", None)).unwrap();
        assert!(matches!(
            pl.check(&typed_turkish),
            Err(PolicyRefusal::NotAllowed { .. })
        ));
        assert_eq!(
            pl.check("+48700123456"),
            Err(PolicyRefusal::Denied {
                number: "+48700123456".into(),
                prefix: "+48700".into()
            })
        );
        let long = format!("+48{}", "1".repeat(200));
        assert!(matches!(
            pl.check(&long),
            Err(PolicyRefusal::TooLong { max: 15, .. })
        ));
        let de = NumberPolicy::for_country("49");
        assert!(de.check("+499001234567").is_err() && de.check("+49301234567").is_ok());
        let uk = NumberPolicy::for_country("44");
        assert!(uk.check("+449012345678").is_err() && uk.check("+442079460958").is_ok());
        let us = NumberPolicy::for_country("1");
        assert!(us.check("+19005550100").is_err() && us.check("+12125550100").is_ok());
        let message = pl.check("+48700123456").unwrap_err().to_string();
        assert!(message.contains("[numbers] deny"), "{message}");
    }
}
