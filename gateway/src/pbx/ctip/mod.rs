//! Slican CTIP (TCP 5524): the codec (pure) and the session (socket, login, liveness).

pub mod codec;
pub mod control;
pub mod gsm;
pub mod session;

/// The keys a `[[pbx]]` block of `kind = "ctip"` may hold besides `name`, `kind`, `host` and
/// `port`; `pbxgw check` refuses the others by name.
pub const CONFIG_KEYS: &[&str] = &[
    "pin",
    "pin_env",
    "pin_file",
    "codepage",
    "probe_after_s",
    "ivr_map",
    "gsm_module",
    "gsm_pin",
    "gsm_pin_env",
    "gsm_pin_file",
];
