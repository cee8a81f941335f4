//! The modem layer (`board::modem`) on a real pseudo-terminal against the modem simulator:
//! the port opens like a serial port, bring-up copes with PIN, slow registration, a lost SMS
//! centre and noise; sending, errors, hangs, delivery reports and incoming texts.
// The serial layer configures the port with termios2 ioctls, which qemu-user does not
// emulate (ENOSYS): these run natively only; the ARM boards run them for real.
#![cfg(target_arch = "x86_64")]

use std::time::Duration;

use board::modem::at::{AtError, Urc};
use board::modem::device::{BringUpError, Modem, ModemSettings};
use board::modem::errors::ErrorClass;
use board::modem::pdu::{self, DeliveryStatus, Incoming, SubmitOptions};
use board::serial::SerialStream;
use pbxgw_tests::sim::modem::{deliver_pdu, ModemSim, ModemSimOptions};

fn settings(pin: Option<&str>) -> ModemSettings {
    ModemSettings {
        pin: pin.map(str::to_owned),
        smsc: Some("+48501200777".into()),
        command_within: Duration::from_secs(2),
        register_within: Duration::from_secs(5),
        send_within: Duration::from_secs(2),
    }
}

fn open(sim: &ModemSim, pin: Option<&str>) -> Modem<SerialStream> {
    let port = board::serial::open(&sim.path, 115_200).expect("the pty opens as a serial port");
    Modem::new(port, settings(pin))
}

#[tokio::test]
async fn bring_up_enters_the_pin_once_waits_for_registration_and_restores_the_smsc() {
    let sim = ModemSim::start(ModemSimOptions {
        pin: Some("4321".into()),
        register_after: Duration::from_millis(1500),
        smsc: None,
        boot_noise: true,
        ..Default::default()
    })
    .expect("a modem simulator on a pseudo-terminal");
    let mut modem = open(&sim, Some("4321"));
    let info = modem.bring_up(true).await.expect("ready");
    assert_eq!(info.operator.as_deref(), Some("Orange PL"));
    assert_eq!(info.signal_dbm, Some(-73));
    assert_eq!(info.smsc.as_deref(), Some("+48501200777"));
    assert_eq!(info.model.as_deref(), Some("SIM7600E-H"));
    let log = sim.log.lock().unwrap();
    assert_eq!(log.pin_attempts, 1);
    assert!(log
        .commands
        .iter()
        .any(|c| c == "AT+CSCA=\"+48501200777\",145"));
    assert!(
        log.commands.iter().filter(|c| *c == "AT+CREG?").count() >= 2,
        "it waited"
    );
    assert!(log.commands.iter().any(|c| c.starts_with("AT+CNMI=")));
}

#[tokio::test]
async fn a_wrong_pin_is_tried_once_and_never_again() {
    let sim = ModemSim::start(ModemSimOptions {
        pin: Some("4321".into()),
        ..Default::default()
    })
    .expect("a modem simulator on a pseudo-terminal");
    let mut modem = open(&sim, Some("1111"));
    let e = modem.bring_up(true).await.unwrap_err();
    assert!(matches!(e, BringUpError::PinRejected), "{e}");
    assert!(e.needs_installer());
    assert!(!e.to_string().contains("1111"));
    // The caller remembers the refusal and says so; the SIM sees no second attempt.
    let e = modem.bring_up(false).await.unwrap_err();
    assert!(matches!(e, BringUpError::PinRejected), "{e}");
    assert_eq!(sim.log.lock().unwrap().pin_attempts, 1);
}

#[tokio::test]
async fn sim_problems_need_the_installer() {
    for (opts, want) in [
        (
            ModemSimOptions {
                puk_locked: true,
                ..Default::default()
            },
            "PUK",
        ),
        (
            ModemSimOptions {
                no_sim: true,
                ..Default::default()
            },
            "no SIM",
        ),
        (
            ModemSimOptions {
                registration_denied: true,
                ..Default::default()
            },
            "denied",
        ),
        (
            ModemSimOptions {
                smsc: None,
                ..Default::default()
            },
            "SMS centre",
        ),
    ] {
        let sim = ModemSim::start(opts).expect("a modem simulator on a pseudo-terminal");
        let port = board::serial::open(&sim.path, 115_200).unwrap();
        // With no SMS centre configured either, only the installer can help.
        let mut modem = Modem::new(
            port,
            ModemSettings {
                smsc: None,
                ..settings(None)
            },
        );
        let e = modem.bring_up(true).await.unwrap_err();
        assert!(
            e.needs_installer() && e.to_string().contains(want),
            "{want}: {e}"
        );
    }
}

#[tokio::test]
async fn a_text_goes_out_as_its_pdus_and_its_delivery_report_comes_back() {
    let sim = ModemSim::start(ModemSimOptions {
        boot_noise: true,
        ..Default::default()
    })
    .expect("a modem simulator on a pseudo-terminal");
    let mut modem = open(&sim, None);
    modem.bring_up(true).await.unwrap();
    let text = "Dziękujemy za wybór 1. Konsultant oddzwoni w ciągu godziny. ".repeat(2);
    let refs = modem
        .send_text("+48601234567", &text, &SubmitOptions::default())
        .await
        .expect("sent");
    let expected = pdu::encode_submit("+48601234567", &text, &SubmitOptions::default()).unwrap();
    assert_eq!(refs.len(), expected.len());
    let got: Vec<String> = sim
        .log
        .lock()
        .unwrap()
        .pdus
        .iter()
        .map(|(_, p)| p.clone())
        .collect();
    assert_eq!(
        got,
        expected.iter().map(|p| p.hex.clone()).collect::<Vec<_>>()
    );
    let mut reports = Vec::new();
    for _ in 0..20 {
        for urc in modem.urcs(Duration::from_millis(200)).await.unwrap() {
            if let Urc::StatusReport { pdu } = urc {
                reports.push(pdu::decode(&pdu).unwrap());
            }
        }
        if reports.len() == refs.len() {
            break;
        }
    }
    assert_eq!(reports.len(), refs.len());
    // The network reports each part when it is delivered, in any order.
    let mut delivered: Vec<_> = reports
        .iter()
        .map(|r| match r {
            Incoming::StatusReport(r) => (r.reference, r.status, r.recipient.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    delivered.sort_by_key(|(reference, _, _)| *reference);
    let mut sent = refs.clone();
    sent.sort();
    let expected: Vec<_> = sent
        .iter()
        .map(|mr| (*mr, DeliveryStatus::Delivered, "+48601234567".to_owned()))
        .collect();
    assert_eq!(delivered, expected);
}

#[tokio::test]
async fn network_errors_are_typed_and_a_hang_is_unconfirmed() {
    let sim = ModemSim::start(ModemSimOptions {
        fail_sends: vec![(1, 1), (2, 500)],
        hang_sends: vec![3],
        ..Default::default()
    })
    .expect("a modem simulator on a pseudo-terminal");
    let mut modem = open(&sim, None);
    modem.bring_up(true).await.unwrap();
    let opts = SubmitOptions::default();
    let e = modem
        .send_text("+48601234567", "x", &opts)
        .await
        .unwrap_err();
    assert!(
        matches!(e.error, AtError::Cms { code: 1, .. }) && e.error.class() == ErrorClass::Permanent,
        "{e}"
    );
    let e = modem
        .send_text("+48601234567", "x", &opts)
        .await
        .unwrap_err();
    assert_eq!(e.error.class(), ErrorClass::Transient, "{e}");
    let e = modem
        .send_text("+48601234567", "x", &opts)
        .await
        .unwrap_err();
    assert!(matches!(e.error, AtError::Unconfirmed(_)), "{e}");
    // The modem is usable again after the hang.
    assert!(modem.send_text("+48601234567", "x", &opts).await.is_ok());
}

#[tokio::test]
async fn an_incoming_text_is_read_and_deleted() {
    let sim = ModemSim::start(ModemSimOptions::default())
        .expect("a modem simulator on a pseudo-terminal");
    let mut modem = open(&sim, None);
    modem.bring_up(true).await.unwrap();
    sim.receive(&deliver_pdu("+48601234567", "TAK, proszę oddzwonić"));
    let urcs = modem.urcs(Duration::from_secs(2)).await.unwrap();
    let Some(Urc::NewMessage { index, .. }) = urcs.first().cloned() else {
        panic!("{urcs:?}")
    };
    let Some(Incoming::Deliver(d)) = modem.read_stored(index).await.unwrap() else {
        panic!()
    };
    assert_eq!(
        (d.from.as_str(), d.text.as_str()),
        ("+48601234567", "TAK, proszę oddzwonić")
    );
    modem.delete_stored(index).await.unwrap();
    assert_eq!(sim.stored(), 0);
}

#[tokio::test]
async fn the_port_is_opened_exclusively() {
    let sim = ModemSim::start(ModemSimOptions::default())
        .expect("a modem simulator on a pseudo-terminal");
    let _first = board::serial::open(&sim.path, 115_200).unwrap();
    assert!(
        board::serial::open(&sim.path, 115_200).is_err(),
        "a second opener would interleave AT commands"
    );
}
