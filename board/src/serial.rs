//! Serial ports: the modem's UART or USB tty, opened raw (8N1, no flow control) at a baud
//! rate. A pseudo-terminal opens the same way (tests), except that it has no modem lines:
//! setting DTR/RTS fails there, which is logged and not fatal.

use std::path::Path;

use tokio_serial::SerialPort;
pub use tokio_serial::SerialStream;

pub fn open(path: &Path, baud: u32) -> std::io::Result<SerialStream> {
    let builder = tokio_serial::new(path.to_string_lossy(), baud)
        .data_bits(tokio_serial::DataBits::Eight)
        .parity(tokio_serial::Parity::None)
        .stop_bits(tokio_serial::StopBits::One)
        .flow_control(tokio_serial::FlowControl::None);
    let mut port = SerialStream::open(&builder).map_err(std::io::Error::other)?;
    for (line, set) in [
        ("DTR", port.write_data_terminal_ready(true)),
        ("RTS", port.write_request_to_send(true)),
    ] {
        if let Err(e) = set {
            tracing::debug!(port = %path.display(), line, error = %e, "modem control line not set (a pseudo-terminal has none)");
        }
    }
    Ok(port)
}
