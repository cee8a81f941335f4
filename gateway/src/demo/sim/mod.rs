//! Simulated peers that speak the real protocols and replay captured traffic: a Slican PBX
//! (CTIP), an Asterisk (AMI, and ARI with a Stasis application), and a GSM modem on a
//! pseudo-terminal. `pbxgw demo` and the end-to-end tests run the gateway against them.

pub mod ami;
pub mod ari;
pub mod ctip;
pub mod modem;
pub mod pace;
pub mod rebase;

use std::sync::{Mutex, MutexGuard, PoisonError};

/// A simulator's shared state stays usable after a task that held it panicked: the peer keeps
/// answering, and the test that caused the panic reports it.
pub(crate) trait Locked<T> {
    fn locked(&self) -> MutexGuard<'_, T>;
}

impl<T> Locked<T> for Mutex<T> {
    fn locked(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
