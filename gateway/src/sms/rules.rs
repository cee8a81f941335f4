//! Which call events send a text, to whom, saying what. Evaluated inside the store writer's
//! transaction, so a committed event and the texts it causes are never apart.

use crate::calls::{CallEvent, Direction, Disposition, EventBody};
use crate::config::{RuleTrigger, SmsConfig, SmsRule};

const PLACEHOLDERS: [&str; 4] = ["{caller}", "{extension}", "{date}", "{time}"];

/// The first `{...}` in `text` that is not a known placeholder.
pub(crate) fn unknown_placeholder(text: &str) -> Option<String> {
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').map(|e| start + e + 1)?;
        let token = &rest[start..end];
        if !PLACEHOLDERS.contains(&token) {
            return Some(token.to_owned());
        }
        rest = &rest[end..];
    }
    None
}

/// Why a number is not texted.
pub(crate) use crate::numbers::NumberError as Refusal;

/// A text a rule wants sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueue {
    pub dedupe_key: String,
    pub origin: String,
    pub call_id: Option<String>,
    pub destination: String,
    pub text: String,
}

/// What the store knows about the call of an event without a record (a DTMF digit).
#[derive(Debug, Clone, Default)]
pub(crate) struct CallInfo {
    pub caller: Option<String>,
    pub callee: Option<String>,
    pub extension: Option<String>,
    /// Every extension the call rang so far (answered or not).
    pub reached: Vec<String>,
}

pub(crate) struct SmsRules {
    config: SmsConfig,
    /// The box's offset from UTC at a moment, for `{date}` and `{time}`.
    offset: fn(i64) -> time::UtcOffset,
}

impl SmsRules {
    pub fn new(config: SmsConfig) -> SmsRules {
        SmsRules {
            config,
            offset: crate::timefmt::local_offset,
        }
    }

    pub fn config(&self) -> &SmsConfig {
        &self.config
    }

    pub fn is_empty(&self) -> bool {
        self.config.rules.is_empty()
    }

    /// The texts `event` triggers (or why a rule could not text), `info` from the calls table
    /// for events that carry no record.
    pub(crate) fn triggered(
        &self,
        event: &CallEvent,
        info: impl FnOnce() -> CallInfo,
    ) -> Vec<(String, Result<Enqueue, Refusal>)> {
        let Some(call_id) = event.call_id.as_deref() else {
            return Vec::new();
        };
        let (info, digits, missed) = match &event.body {
            EventBody::CallDtmf(d) => (info(), d.digit.clone(), false),
            EventBody::CallEnded(r) => {
                let missed = r.direction == Direction::Inbound
                    && matches!(
                        r.disposition,
                        Disposition::NoAnswer | Disposition::Busy | Disposition::Abandoned
                    );
                let info = CallInfo {
                    caller: r.caller.clone(),
                    callee: r.callee.clone(),
                    extension: r.extension.clone(),
                    reached: r.rang.iter().map(|o| o.extension.clone()).collect(),
                };
                (info, r.ivr_digits.clone().unwrap_or_default(), missed)
            }
            _ => return Vec::new(),
        };
        self.config
            .rules
            .iter()
            .enumerate()
            .filter(|(_, rule)| match rule.on {
                RuleTrigger::IvrDigit => rule.digit.as_deref().is_some_and(|d| digits.contains(d)),
                RuleTrigger::MissedCall => missed,
            })
            .filter(|(_, rule)| matches_extension(rule, &info))
            .map(|(i, rule)| {
                let name = rule
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("rule{}", i + 1));
                let queued = self.text_for(rule, &name, call_id, &info, event.ts_ms);
                (name, queued)
            })
            .collect()
    }

    fn text_for(
        &self,
        rule: &SmsRule,
        name: &str,
        call_id: &str,
        info: &CallInfo,
        ts_ms: i64,
    ) -> Result<Enqueue, Refusal> {
        let caller = info.caller.as_deref().unwrap_or_default();
        let destination = crate::numbers::e164(caller, &self.config.plan())?;
        if rule.mobile_only && crate::numbers::is_mobile(&destination) != Some(true) {
            return Err(Refusal::NotMobile(destination));
        }
        let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ts_ms) * 1_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
            .to_offset((self.offset)(ts_ms / 1000));
        let date = format!(
            "{:04}-{:02}-{:02}",
            at.year(),
            u8::from(at.month()),
            at.day()
        );
        let clock = format!("{:02}:{:02}", at.hour(), at.minute());
        let extension = info
            .extension
            .as_deref()
            .or(info.callee.as_deref())
            .unwrap_or_default();
        let text = rule
            .text
            .replace("{caller}", caller)
            .replace("{extension}", extension)
            .replace("{date}", &date)
            .replace("{time}", &clock);
        Ok(Enqueue {
            dedupe_key: format!("rule:{name}:{call_id}"),
            origin: name.to_owned(),
            call_id: Some(call_id.to_owned()),
            destination,
            text,
        })
    }
}

/// A rule for an extension fires for a call that reached it: dialled, answered there, or only
/// rang there (the IVR extension a CTIP call rang while nobody answered).
fn matches_extension(rule: &SmsRule, info: &CallInfo) -> bool {
    let Some(want) = rule.extension.as_deref() else {
        return true;
    };
    let named = [&info.callee, &info.extension].into_iter().flatten();
    named
        .chain(&info.reached)
        .any(|e| e.trim_end_matches('_') == want)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::{CallDtmf, CallRecord, Source};

    fn cfg() -> SmsConfig {
        SmsConfig {
            outside_line_prefix: Some("0".into()),
            trunk_prefix: None,
            ..SmsConfig::default()
        }
    }

    #[test]
    fn placeholders_are_checked() {
        assert_eq!(unknown_placeholder("Hi {caller} at {time}"), None);
        assert_eq!(unknown_placeholder("Hi {name}").as_deref(), Some("{name}"));
        assert_eq!(unknown_placeholder("{ unclosed"), None);
    }

    fn rules() -> SmsRules {
        let mut c = cfg();
        c.rules = vec![
            SmsRule {
                name: Some("ivr1".into()),
                on: RuleTrigger::IvrDigit,
                digit: Some("1".into()),
                extension: None,
                text: "Dziękujemy, {caller}! Oddzwonimy z {extension}.".into(),
                mobile_only: false,
            },
            SmsRule {
                name: None,
                on: RuleTrigger::MissedCall,
                digit: None,
                extension: Some("100".into()),
                text: "Nie odebraliśmy ({date} {time})".into(),
                mobile_only: false,
            },
        ];
        SmsRules {
            config: c,
            offset: |_| time::UtcOffset::UTC,
        }
    }

    fn event(body: EventBody) -> CallEvent {
        CallEvent {
            ts_ms: 1_795_316_989_000,
            source: Source::Ami,
            pbx: "p".into(),
            call_id: Some("p-1".into()),
            raw: None,
            body,
        }
    }

    #[test]
    fn a_digit_texts_the_caller_once_per_rule_and_call() {
        let r = rules();
        let info = || CallInfo {
            caller: Some("601234567".into()),
            callee: Some("ivr".into()),
            extension: None,
            reached: vec![],
        };
        let got = r.triggered(
            &event(EventBody::CallDtmf(CallDtmf { digit: "1".into() })),
            info,
        );
        assert_eq!(got.len(), 1);
        let q = got[0].1.clone().unwrap();
        assert_eq!(q.dedupe_key, "rule:ivr1:p-1");
        assert_eq!(q.destination, "+48601234567");
        assert_eq!(q.text, "Dziękujemy, 601234567! Oddzwonimy z ivr.");
        let none = r.triggered(
            &event(EventBody::CallDtmf(CallDtmf { digit: "2".into() })),
            CallInfo::default,
        );
        assert!(none.is_empty());
    }

    #[test]
    fn a_missed_inbound_call_to_the_extension_texts_back() {
        let r = rules();
        let mut rec = CallRecord::example("p-1", 1_795_316_989_000);
        rec.answered_at = None;
        rec.disposition = Disposition::NoAnswer;
        let got = r.triggered(
            &event(EventBody::CallEnded(Box::new(rec.clone()))),
            CallInfo::default,
        );
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].0, "rule2");
        // The example's caller is internal (600): refused with a reason, not queued.
        assert_eq!(got[0].1, Err(Refusal::Internal("600".into())));
        rec.caller = Some("+48601234567".into());
        let got = r.triggered(
            &event(EventBody::CallEnded(Box::new(rec.clone()))),
            CallInfo::default,
        );
        assert_eq!(
            got[0].1.as_ref().unwrap().text,
            "Nie odebraliśmy (2026-11-22 03:09)"
        );
        rec.disposition = Disposition::Answered;
        assert!(r
            .triggered(
                &event(EventBody::CallEnded(Box::new(rec))),
                CallInfo::default
            )
            .is_empty());
    }

    #[test]
    fn an_extension_filter_matches_an_extension_the_call_only_rang() {
        let mut config = cfg();
        config.rules = vec![SmsRule {
            name: Some("ivr9".into()),
            on: RuleTrigger::IvrDigit,
            digit: Some("9".into()),
            extension: Some("999".into()),
            text: "x".into(),
            mobile_only: false,
        }];
        let r = SmsRules {
            config,
            offset: |_| time::UtcOffset::UTC,
        };
        let nine = || event(EventBody::CallDtmf(CallDtmf { digit: "9".into() }));
        let info = |reached: &[&str]| CallInfo {
            caller: Some("601234567".into()),
            callee: Some("517471313".into()),
            extension: None,
            reached: reached.iter().map(|e| e.to_string()).collect(),
        };
        assert_eq!(r.triggered(&nine(), || info(&["101", "999_"])).len(), 1);
        assert!(r.triggered(&nine(), || info(&["101"])).is_empty());
    }

    #[test]
    fn a_mobile_only_rule_texts_mobiles_and_refuses_landlines_by_name() {
        let mut config = cfg();
        config.rules = vec![SmsRule {
            name: Some("missed".into()),
            on: RuleTrigger::IvrDigit,
            digit: Some("1".into()),
            extension: None,
            text: "Oddzwonimy.".into(),
            mobile_only: true,
        }];
        let r = SmsRules {
            config,
            offset: |_| time::UtcOffset::UTC,
        };
        let one = || event(EventBody::CallDtmf(CallDtmf { digit: "1".into() }));
        let from = |caller: &str| {
            let caller = caller.to_owned();
            move || CallInfo {
                caller: Some(caller.clone()),
                ..CallInfo::default()
            }
        };
        let mobile = r.triggered(&one(), from("601234567"));
        assert_eq!(mobile[0].1.as_ref().unwrap().destination, "+48601234567");
        let landline = r.triggered(&one(), from("225551234"));
        assert_eq!(
            landline[0].1,
            Err(Refusal::NotMobile("+48225551234".into())),
            "a Warsaw landline is not texted"
        );
    }
}
