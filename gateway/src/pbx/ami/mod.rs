//! Asterisk Manager Interface (TCP 5038): the codec (pure), the session (login, actions,
//! keep-alive, resync) and call control. Correlation into calls is in `calls::ami`.

pub mod codec;
pub mod control;
pub mod session;

/// The keys a `[[pbx]]` block of `kind = "ami"` may hold besides `name`, `kind`, `host` and
/// `port`; `pbxgw check` refuses the others by name.
pub const CONFIG_KEYS: &[&str] = &[
    "username",
    "secret",
    "secret_env",
    "secret_file",
    "auth",
    "events",
    "inbound_contexts",
    "trunks",
    "originate_channel",
    "originate_context",
    "probe_after_s",
    "resync_every_s",
];
