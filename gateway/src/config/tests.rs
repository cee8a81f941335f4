//! The configuration's contract (compiled only under #[cfg(test)]).

use super::*;

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, Path::new("test.toml"))
}

/// The problems of a configuration that must not load.
fn problems(text: &str) -> Vec<Problem> {
    match load(text) {
        Err(ConfigError::Invalid { problems, .. }) => problems,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

use std::collections::BTreeMap;

#[test]
fn template_is_valid() {
    let c = load(TEMPLATE).expect("template must load");
    assert_eq!(c.gateway.id, "site-01");
}

#[test]
fn unknown_key_is_an_error_that_names_it() {
    let e = load("[gateway]\nid = \"a\"\nidd = 1\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("idd"), "{e}");
}

#[test]
fn problems_name_key_value_and_fix() {
    let problems = problems(
        "[gateway]\nid = \"bad/id\"\n[store]\nmax_size_mb = 1\n[[pbx]]\nname = \"p\"\nkind = \"ami\"\nhost = \"h\"\n",
    );
    let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "gateway.id",
            "store.max_size_mb",
            "pbx[0].username",
            "pbx[0].secret"
        ]
    );
    assert!(problems[0].value.contains("bad/id"));
    assert!(problems[0].fix.contains("MQTT topic"));
}

#[test]
fn the_built_in_ivr_is_checked() {
    let problems = problems(
        "[gateway]\nid = \"a\"\n[[pbx]]\nname = \"p\"\nkind = \"ari\"\nurl = \"http://h:8088\"\nusername = \"u\"\npassword = \"s\"\napp = \"gw\"\n[pbx.ivr]\nprompt = \"welcome\"\ncontext = \"\"\nextension = \"queue\"\nvariable = \"IVR DIGIT\"\ntimeout_s = 0\n",
    );
    let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "pbx[0].ivr.prompt",
            "pbx[0].ivr.context",
            "pbx[0].ivr.variable",
            "pbx[0].ivr.timeout_s"
        ]
    );
    assert!(problems[0].fix.contains("sound:welcome"));
    assert_eq!(problems[3].fix, "use 1 to 60 seconds");
}

#[test]
fn charge_currency_and_recording_links_are_checked() {
    let problems = problems(
        "[gateway]\nid = \"a\"\n\
         [[pbx]]\nname = \"s\"\nkind = \"ctip\"\nhost = \"h\"\npin = \"1234\"\ncurrency = \"zł\"\n\
         [[pbx]]\nname = \"a\"\nkind = \"ami\"\nhost = \"h\"\nusername = \"u\"\nsecret = \"s\"\n\
         recording_url_base = \"ftp://rec/x\"\nrecording_dir = \"monitor\"\n\
         [[pbx]]\nname = \"r\"\nkind = \"ari\"\nurl = \"http://h:8088\"\nusername = \"u\"\npassword = \"s\"\napp = \"gw\"\n\
         recording_url_base = \"https://rec.example.com/a b\"\n",
    );
    let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "pbx[0].currency",
            "pbx[1].recording_url_base",
            "pbx[1].recording_dir",
            "pbx[2].recording_url_base"
        ]
    );
    assert!(problems[0].fix.contains("ISO 4217"));
    let fine = "[gateway]\nid = \"a\"\n[[pbx]]\nname = \"a\"\nkind = \"ami\"\nhost = \"h\"\n\
                username = \"u\"\nsecret = \"s\"\nrecording_url_base = \"https://rec.example.com/m\"\n";
    let config = load(fine).unwrap();
    let links = config.pbx[0].recording_links().expect("links");
    assert_eq!(
        links.link("/var/spool/asterisk/monitor/x.wav").as_deref(),
        Some("https://rec.example.com/m/x.wav")
    );
}

#[test]
fn finesse_blocks_are_checked() {
    let block = |name: &str, url: &str, team: &str, extra: &str| {
        format!("[[finesse]]\nname = \"{name}\"\nurl = \"{url}\"\nusername = \"sup\"\nteam = \"{team}\"\n{extra}")
    };
    let text = format!(
        "[gateway]\nid = \"a\"\n{}{}{}",
        block(
            "cc",
            "finesse.example.com",
            "34",
            "password = \"p\"\npoll_every_s = 0\n"
        ),
        block(
            "cc",
            "https://f:8445",
            "3/4",
            "password_env = \"PBXGW_TEST_UNSET_FINESSE\"\n"
        ),
        block("ok", "https://f:8445", "34", "password = \"p\"\n"),
    );
    let problems = problems(&text);
    let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "finesse[1].password_env (line 15)",
            "finesse[0].url",
            "finesse[0].poll_every_s",
            "finesse[1].password",
            "finesse[1].team",
            "finesse[1].name"
        ]
    );
    let config = load(&format!(
        "[gateway]\nid = \"a\"\n{}",
        block("ok", "https://f:8445", "34", "password = \"p\"\n")
    ))
    .unwrap();
    assert_eq!(config.finesse[0].poll_every_s, 5);
}

#[test]
fn an_ivr_under_another_kind_is_refused_by_its_line_and_the_rest_still_checked() {
    let problems = problems(
        "[gateway]\nid = \"a\"\n[[pbx]]\nname = \"p\"\nkind = \"ami\"\nhost = \"h\"\nusername = \"u\"\nsecret = \"s\"\nresync_every_s = 1\n[pbx.ivr]\nprompt = \"welcome\"\n",
    );
    let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["pbx[0].ivr (line 10)", "pbx[0].resync_every_s"]);
    assert!(
        problems[0].fix.contains("kind = \"ari\""),
        "{}",
        problems[0]
    );
}

#[test]
fn a_block_without_a_kind_or_with_an_unknown_one_says_which_kinds_exist() {
    let missing = problems("[gateway]\nid = \"a\"\n[[pbx]]\nname = \"p\"\nhost = \"h\"\n");
    assert_eq!(missing[0].key, "pbx[0].kind");
    assert!(missing[0].fix.contains("\"ctip\", \"ami\" or \"ari\""));
    let e = load("[gateway]\nid = \"a\"\n[[pbx]]\nname = \"p\"\nkind = \"sip\"\nhost = \"h\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 5"), "{e}");
    assert!(
        e.contains("ctip") && e.contains("ami") && e.contains("ari"),
        "{e}"
    );
}

#[test]
fn secret_from_env_and_file_and_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("pw");
    std::fs::write(&f, "hunter2\n").unwrap();
    std::env::set_var("PBXGW_TEST_SECRET", "s3cr3t");
    let c = load(&format!(
        "[gateway]\nid = \"a\"\n[[pbx]]\nname = \"p\"\nkind = \"ami\"\nhost = \"h\"\nusername = \"u\"\nsecret_env = \"PBXGW_TEST_SECRET\"\n[uplink.mqtt]\nhost = \"b\"\ntls = false\nusername = \"u\"\npassword_file = {:?}\n",
        f
    ))
    .unwrap();
    let PbxConfig::Ami(ami) = &c.pbx[0] else {
        panic!("an AMI block reads as AMI");
    };
    assert_eq!(ami.secret.as_ref().unwrap().expose(), "s3cr3t");
    let mqtt = c.uplink.mqtt.as_ref().unwrap();
    assert_eq!(mqtt.password.as_ref().unwrap().expose(), "hunter2");
    let debug = format!("{c:?}");
    assert!(!debug.contains("s3cr3t") && !debug.contains("hunter2"));
}

#[test]
fn missing_env_secret_is_named() {
    let e = load("[gateway]\nid = \"a\"\n[uplink.postgres]\nurl_env = \"PBXGW_NOPE_NOT_SET\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("uplink.postgres.url_env"), "{e}");
    assert!(e.contains("PBXGW_NOPE_NOT_SET"), "{e}");
}

#[test]
fn a_secret_given_twice_is_named_with_its_line() {
    std::env::set_var("PBXGW_TEST_TWICE", "x");
    let e = load(&format!(
        "{AMI}secret = \"inline\"\nsecret_env = \"PBXGW_TEST_TWICE\"\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("pbx[0].secret (line 9)"), "{e}");
    assert!(
        e.contains("use only one of secret, secret_env, secret_file, secret_credential"),
        "{e}"
    );
    assert!(!e.contains("inline"), "{e}");
}

#[test]
fn a_later_type_error_still_names_its_line_after_a_secret_was_read() {
    std::env::set_var("PBXGW_TEST_LINES", "s3cr3t");
    let e = load(&format!(
        "{AMI}secret_env = \"PBXGW_TEST_LINES\"\nport = \"not a number\"\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("line 9, column 8 (key `port`)"), "{e}");
    assert!(!e.contains("s3cr3t"), "{e}");
}

#[test]
fn ca_file_is_a_path_not_a_secret_source() {
    let c = load(
        "[gateway]\nid = \"a\"\n[uplink.mqtt]\nhost = \"b\"\nca_file = \"/nonexistent/ca.pem\"\n",
    );
    let e = c.map(|_| ()).unwrap_err().to_string();
    // The CA is checked as a file to read later, never read as a secret named `ca`.
    assert!(!e.contains("mqtt.ca "), "{e}");
    assert!(!e.contains("mqtt.ca_file (line"), "{e}");
}

#[test]
fn bad_postgres_url_is_not_echoed() {
    let e = load("[gateway]\nid = \"a\"\n[uplink.postgres]\nurl = \"postgresql://u:topsecret@h:notaport/db\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("uplink.postgres.url"), "{e}");
    assert!(!e.contains("topsecret"), "{e}");
}

const AMI: &str = "[gateway]\nid = \"a\"\n[[pbx]]\nname = \"p\"\nkind = \"ami\"\nhost = \"h\"\nusername = \"u\"\n";

#[test]
fn a_config_error_on_a_secret_names_line_and_key_but_never_the_value() {
    let cases = [
        format!("{AMI}secret = 98765431x\n"),
        format!("{AMI}secret = \"hunter2-unterminated\n"),
        format!("{AMI}[pbx.ivr]\nprompt = {{ secret = \"hunter2inline\", x = }}\n"),
        "[gateway]\nid = \"a\"\n[modem]\nport = \"/dev/x\"\npin = 98765431.5\n".into(),
    ];
    for text in cases {
        let e = load(&text).unwrap_err().to_string();
        for secret in ["98765431", "hunter2"] {
            assert!(!e.contains(secret), "{secret} echoed in: {e}");
        }
        assert!(e.contains("line "), "{e}");
    }
    let e = load(&format!("{AMI}secret = 98765431x\n"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 8") && e.contains("key `secret`"), "{e}");
}

/// A block of one kind carrying keys of the others (a copied block) is refused, each key
/// by name and line, and a secret among them is never shown.
#[test]
fn keys_of_another_pbx_kind_are_refused_by_name_and_line() {
    let text = format!(
        "{AMI}secret = \"s\"\npin = \"98765431\"\ncodepage = 852\nivr_map = {{ \"999\" = \"9\" }}\ngsm_module = \"G001\"\napp = \"gw\"\nurl = \"http://h:8088\"\n"
    );
    let problems = problems(&text);
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "pbx[0].app (line 13)",
            "pbx[0].codepage (line 10)",
            "pbx[0].gsm_module (line 12)",
            "pbx[0].ivr_map (line 11)",
            "pbx[0].pin (line 9)",
            "pbx[0].url (line 14)",
        ]
    );
    assert!(problems[4].fix.contains("kind = \"ctip\"") && problems[4].fix.contains("\"ami\""));
    assert!(
        problems[0].fix.contains("kind = \"ari\""),
        "{}",
        problems[0].fix
    );
    let all = load(&text).unwrap_err().to_string();
    assert!(!all.contains("98765431"), "{all}");
    // Each kind's own keys pass.
    load(&format!(
        "{AMI}secret = \"s\"\ninbound_contexts = [\"in\"]\nresync_every_s = 60\n"
    ))
    .unwrap();
    load("[gateway]\nid = \"a\"\n[[pbx]]\nname = \"p\"\nkind = \"ari\"\nurl = \"http://h:8088\"\nusername = \"u\"\npassword = \"p\"\napp = \"gw\"\nsubscribe_all = true\ninbound_contexts = [\"in\"]\n").unwrap();
}

#[test]
fn a_numeric_pin_is_the_digits_it_is() {
    let c = load("[gateway]\nid = \"a\"\n[[pbx]]\nname = \"p\"\nkind = \"ctip\"\nhost = \"h\"\npin = 98765431\n")
        .expect("a PIN written as a number loads");
    let pin = c.pbx[0].as_ctip().and_then(|p| p.pin.as_ref());
    assert_eq!(pin.map(Secret::expose), Some("98765431"));
}

#[test]
fn every_duration_has_a_range_and_the_overflowing_one_is_refused() {
    let problems = problems(&format!(
        "{AMI}secret = \"s\"\nprobe_after_s = 18446744073709551615\nresync_every_s = 1\n\
         [uplink.mqtt]\nhost = \"b\"\nkeepalive_s = 0\n[sms]\ncooldown_s = 18446744073709551615\n"
    ));
    let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "sms.cooldown_s",
            "uplink.mqtt.keepalive_s",
            "pbx[0].probe_after_s",
            "pbx[0].resync_every_s"
        ]
    );
    assert_eq!(problems[2].fix, "use 1 to 3600 seconds");
}

#[test]
fn a_password_without_tls_must_be_written_as_such_and_is_warned_about() {
    let mqtt =
        "[gateway]\nid = \"a\"\n[uplink.mqtt]\nhost = \"b\"\nusername = \"u\"\npassword = \"p\"\n";
    let problems = problems(mqtt);
    assert_eq!(problems[0].key, "uplink.mqtt.tls");
    let c = load(&format!("{mqtt}tls = false\n")).unwrap();
    assert_eq!(c.warnings().len(), 1, "{:?}", c.warnings());
    assert!(load(&format!("{mqtt}tls = true\n"))
        .unwrap()
        .warnings()
        .is_empty());
}

#[test]
fn postgres_requires_tls_unless_the_url_turns_it_off() {
    assert!(postgres_tls_disabled("postgresql://u@h/db?sslmode=disable"));
    assert!(postgres_tls_disabled("host=h sslmode=disable user=u"));
    assert!(!postgres_tls_disabled("postgresql://u@h/db"));
    assert!(!postgres_tls_disabled("postgresql://u@h/db?sslmode=prefer"));
    let c = load("[gateway]\nid = \"a\"\n[uplink.postgres]\nurl = \"postgresql://u:pw@h/db?sslmode=disable\"\n").unwrap();
    let warnings = c.warnings();
    assert!(warnings[0].contains("sslmode=disable") && !warnings[0].contains("pw"));
}

/// Structure-aware: the file's sections with values of every TOML type and size in
/// every duration, size and name key; the result is a config or an error, never a
/// panic, and a config's durations fit a clock.
mod shaped {
    use super::*;
    use proptest::prelude::*;

    const KEYS: [(&str, &str); 20] = [
        ("store", "max_size_mb"),
        ("store", "history_days"),
        ("store", "batch_max"),
        ("store", "batch_wait_ms"),
        ("pbx", "probe_after_s"),
        ("pbx", "resync_every_s"),
        ("pbx", "codepage"),
        ("pbx", "port"),
        ("pbx", "pin"),
        ("sms", "country_code"),
        ("sms", "cooldown_s"),
        ("sms", "validity_h"),
        ("sms", "min_national_digits"),
        ("sms", "trunk_prefix"),
        ("numbers", "max_digits"),
        ("numbers", "allow"),
        ("commands", "rate_per_minute"),
        ("uplink.mqtt", "keepalive_s"),
        ("uplink.mqtt", "status_interval_s"),
        ("uplink.mqtt", "max_inflight"),
    ];

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<i64>().prop_map(|n| n.to_string()),
            Just("9223372036854775807".to_owned()),
            Just("0".to_owned()),
            Just("-1".to_owned()),
            Just("1e308".to_owned()),
            Just("nan".to_owned()),
            "[ąę0-9a-z]{0,12}".prop_map(|t| format!("{t:?}")),
            Just("[]".to_owned()),
            Just("[\"+48\", 1]".to_owned()),
            Just("{ a = 1 }".to_owned()),
            Just("true".to_owned()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::mutate::cases()))]

        #[test]
        fn any_value_in_any_key_is_a_config_or_an_error(
            fields in proptest::collection::vec((proptest::sample::select(&KEYS[..]), value()), 0..6)
        ) {
            let mut sections: BTreeMap<&str, Vec<String>> = BTreeMap::new();
            for ((section, key), v) in fields {
                sections.entry(section).or_default().push(format!("{key} = {v}"));
            }
            let mut text = "[gateway]\nid = \"f\"\n".to_owned();
            for (section, lines) in &sections {
                let mut seen = std::collections::HashSet::new();
                let lines: Vec<_> = lines
                    .iter()
                    .filter(|l| seen.insert(l.split(' ').next().unwrap_or("").to_owned()))
                    .collect();
                match *section {
                    "pbx" => text += "[[pbx]]\nname = \"p\"\nkind = \"ctip\"\nhost = \"h\"\n",
                    "uplink.mqtt" => text += "[uplink.mqtt]\nhost = \"b\"\n",
                    other => text += &format!("[{other}]\n"),
                }
                for l in lines {
                    text += &format!("{l}\n");
                }
            }
            if let Ok(c) = load(&text) {
                let _ = (c.warnings(), c.number_policy(), c.sms.plan());
                for pbx in c.pbx.iter().filter_map(PbxConfig::as_ctip) {
                    let s = crate::pbx::ctip::session::CtipSettings::from_config(pbx);
                    prop_assert!(std::time::Instant::now().checked_add(s.probe_after).is_some());
                }
            }
        }
    }
}

#[test]
fn an_ivr_rule_no_ctip_ivr_map_can_trigger_is_warned_about_with_the_fix() {
    let config = |ivr_map: &str, extension: &str, more: &str| {
        format!(
            "[gateway]\nid = \"a\"\n[[pbx]]\nname = \"ncp\"\nkind = \"ctip\"\nhost = \"h\"\npin = \"1\"\n\
             ivr_map = {{ {ivr_map} }}\n{more}\n[[sms.rule]]\nname = \"ivr9\"\n\
             on = \"ivr_digit\"\ndigit = \"9\"\n{extension}text = \"x\"\n"
        )
    };
    let warned = |text: String| load(&text).expect("loads").warnings();
    // The map sends 9 to 999, the rule wants 9 at 999 (or anywhere): it can fire.
    assert!(warned(config("\"999_\" = \"9\"", "extension = \"999\"\n", "")).is_empty());
    assert!(warned(config("\"999\" = \"9\"", "", "")).is_empty());
    // Digit 9 is given at 999, the rule waits for it at 998: never.
    let w = warned(config("\"999\" = \"9\"", "extension = \"998\"\n", ""));
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("ivr9")
            && w[0].contains("at extension 998")
            && w[0].contains(r#"ivr_map = { "998" = "9" }"#),
        "{w:?}"
    );
    // No map at all, no extension: the fix names the IVR's extension to fill in.
    let w = warned(config("", "", ""));
    assert!(
        w[0].contains(r#"ivr_map = { "<the IVR's extension>" = "9" }"#),
        "{w:?}"
    );
    // An Asterisk beside it sees real digits: no warning.
    let ami =
        "[[pbx]]\nname = \"ast\"\nkind = \"ami\"\nhost = \"h\"\nusername = \"u\"\nsecret = \"s\"\n";
    assert!(warned(config("", "extension = \"998\"\n", ami)).is_empty());
}

/// `[[monitor]]` targets: a name each (shown as `monitor:<name>`), a `host:port`; a bad one
/// is named with what to write, a second block of the same name too.
#[test]
fn monitors_need_a_plain_name_and_a_host_with_a_port() {
    let ok = load(
        "[gateway]\nid = \"g\"\n[[monitor]]\nname = \"crm\"\ntarget = \"crm.example.com:443\"\n\
         [[monitor]]\nname = \"dc-v6\"\ntarget = \"[2001:db8::1]:5432\"\n",
    )
    .expect("valid monitors");
    assert_eq!(ok.monitor.len(), 2);
    let problems = problems(
        "[gateway]\nid = \"g\"\n[[monitor]]\nname = \"crm\"\ntarget = \"crm.example.com\"\n\
         [[monitor]]\nname = \"crm\"\ntarget = \"x:0\"\n[[monitor]]\nname = \"a b\"\ntarget = \":80\"\n",
    );
    let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "monitor[0].target",
            "monitor[1].name",
            "monitor[1].target",
            "monitor[2].name",
            "monitor[2].target"
        ]
    );
    assert!(problems[0].fix.contains("host:port"), "{:?}", problems[0]);
    let typo = load("[gateway]\nid = \"g\"\n[[monitor]]\nname = \"x\"\nhost = \"y:1\"\n");
    let message = format!("{:?}", typo.expect_err("an unknown key"));
    assert!(message.contains("unknown field `host`"), "{message}");
}

#[test]
fn a_secret_comes_from_a_systemd_credential() {
    let text = "[gateway]\nid = \"a\"\n[uplink.mqtt]\nhost = \"b\"\ntls = false\nusername = \"u\"\npassword_credential = \"mqtt-password\"\n";
    std::env::remove_var("CREDENTIALS_DIRECTORY");
    let e = load(text).unwrap_err().to_string();
    assert!(
        e.contains("uplink.mqtt.password_credential")
            && e.contains("LoadCredential=mqtt-password:"),
        "outside systemd the fix names the unit setting: {e}"
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mqtt-password"), "s3cret-from-credstore\n").unwrap();
    std::env::set_var("CREDENTIALS_DIRECTORY", dir.path());
    let c = load(text).expect("the credential is read");
    let password = c.uplink.mqtt.unwrap().password.unwrap();
    assert_eq!(password.expose(), "s3cret-from-credstore");

    // The packaged unit loads /etc/credstore/pbxgw/, whose files systemd names pbxgw_<file>.
    std::fs::rename(
        dir.path().join("mqtt-password"),
        dir.path().join("pbxgw_mqtt-password"),
    )
    .unwrap();
    let c = load(text).expect("the credential is read by its file's name");
    assert_eq!(
        c.uplink.mqtt.unwrap().password.unwrap().expose(),
        "s3cret-from-credstore"
    );

    let e = load(&text.replace("\"mqtt-password\"", "\"../mqtt-password\""))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a path"), "{e}");
    let e = load(&text.replace("\"mqtt-password\"", "\"absent\""))
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot read it"), "{e}");
    assert!(!e.contains("s3cret"), "{e}");
    std::env::remove_var("CREDENTIALS_DIRECTORY");
}

#[test]
fn a_mobile_only_rule_where_numbers_do_not_show_mobiles_is_warned_about() {
    let rule =
        "[[sms.rule]]\nname = \"missed\"\non = \"missed_call\"\ntext = \"x\"\nmobile_only = true\n";
    let us = load(&format!(
        "[gateway]\nid = \"a\"\n[sms]\ncountry_code = \"1\"\n{rule}"
    ))
    .unwrap();
    let warnings = us.warnings();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("sms.rule[0] has mobile_only") && w.contains("texts nobody")),
        "{warnings:?}"
    );
    let pl = load(&format!(
        "[gateway]\nid = \"a\"\n[sms]\ncountry_code = \"48\"\n{rule}"
    ))
    .unwrap();
    assert!(pl.warnings().is_empty(), "{:?}", pl.warnings());
}
