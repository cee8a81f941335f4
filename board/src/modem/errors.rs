//! What a modem's `+CMS ERROR` and `+CME ERROR` codes mean (3GPP TS 27.005 3.2.5, TS 27.007
//! 9.2, and the network causes of TS 24.011 / TS 23.040 they pass through), and what to do
//! about each: drop the message, try it again later, or fix the modem first.

/// What an error means for the message being sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// This message cannot be delivered as it is (bad number, barred, invalid PDU): never
    /// retry it.
    Permanent,
    /// Try the same message again later (network busy, no service, modem hiccup).
    Transient,
    /// The modem or SIM needs attention (PIN, PUK, no SIM, memory): keep the message,
    /// recover or call the installer.
    Modem,
}

/// `+CMS ERROR: n`.
pub fn cms_meaning(code: u16) -> &'static str {
    match code {
        1 => "unassigned (unallocated) number",
        8 => "operator determined barring",
        10 => "call barred",
        17 => "network failure",
        21 => "short message transfer rejected",
        22 => "memory capacity exceeded",
        27 => "destination out of service",
        28 => "unidentified subscriber",
        29 => "facility rejected",
        30 => "unknown subscriber",
        38 => "network out of order",
        41 => "temporary failure",
        42 => "congestion",
        47 => "resources unavailable",
        50 => "requested facility not subscribed",
        69 => "requested facility not implemented",
        81 => "invalid short message transfer reference value",
        95 => "invalid message, unspecified",
        96 => "invalid mandatory information",
        97 => "message type non-existent or not implemented",
        98 => "message not compatible with short message protocol state",
        99 => "information element non-existent or not implemented",
        111 => "protocol error, unspecified",
        127 => "interworking, unspecified",
        128 => "telematic interworking not supported",
        129 => "short message type 0 not supported",
        130 => "cannot replace short message",
        143 => "unspecified TP-PID error",
        144 => "data coding scheme (alphabet) not supported",
        145 => "message class not supported",
        159 => "unspecified TP-DCS error",
        160 => "command cannot be actioned",
        161 => "command unsupported",
        175 => "unspecified TP-Command error",
        176 => "TPDU not supported",
        192 => "SC busy",
        193 => "no SC subscription",
        194 => "SC system failure",
        195 => "invalid SME address",
        196 => "destination SME barred",
        197 => "SM rejected, duplicate SM",
        198 => "TP-VPF not supported",
        199 => "TP-VP not supported",
        208 => "SIM SMS storage full",
        209 => "no SMS storage capability in SIM",
        210 => "error in MS",
        211 => "memory capacity exceeded",
        212 => "SIM application toolkit busy",
        213 => "SIM data download error",
        255 => "unspecified error cause",
        300 => "ME failure",
        301 => "SMS service of ME reserved",
        302 => "operation not allowed",
        303 => "operation not supported",
        304 => "invalid PDU mode parameter",
        305 => "invalid text mode parameter",
        310 => "SIM not inserted",
        311 => "SIM PIN required",
        312 => "PH-SIM PIN required",
        313 => "SIM failure",
        314 => "SIM busy",
        315 => "SIM wrong",
        316 => "SIM PUK required",
        317 => "SIM PIN2 required",
        318 => "SIM PUK2 required",
        320 => "memory failure",
        321 => "invalid memory index",
        322 => "memory full",
        330 => "SMSC address unknown",
        331 => "no network service",
        332 => "network timeout",
        340 => "no +CNMA acknowledgement expected",
        500 => "unknown error",
        _ => "unknown cause",
    }
}

pub fn cms_class(code: u16) -> ErrorClass {
    match code {
        1
        | 8
        | 10
        | 21
        | 28
        | 29
        | 30
        | 50
        | 69
        | 96
        | 97
        | 128..=176
        | 193
        | 195
        | 196
        | 304
        | 305 => ErrorClass::Permanent,
        310..=318 | 320 | 322 | 330 => ErrorClass::Modem,
        _ => ErrorClass::Transient,
    }
}

/// `+CME ERROR: n`.
pub fn cme_meaning(code: u16) -> &'static str {
    match code {
        0 => "phone failure",
        3 => "operation not allowed",
        4 => "operation not supported",
        10 => "SIM not inserted",
        11 => "SIM PIN required",
        12 => "SIM PUK required",
        13 => "SIM failure",
        14 => "SIM busy",
        15 => "SIM wrong",
        16 => "incorrect password",
        17 => "SIM PIN2 required",
        18 => "SIM PUK2 required",
        20 => "memory full",
        21 => "invalid index",
        22 => "not found",
        23 => "memory failure",
        30 => "no network service",
        31 => "network timeout",
        32 => "network not allowed - emergency calls only",
        100 => "unknown",
        _ => "unknown cause",
    }
}

pub fn cme_class(code: u16) -> ErrorClass {
    match code {
        10..=18 | 20 | 23 => ErrorClass::Modem,
        _ => ErrorClass::Transient,
    }
}
