//! Connectors: each keeps one session to its PBX and turns bytes into typed messages with the
//! raw line beside them. Correlation into calls happens in `calls`.

pub mod ami;
pub mod ari;
pub mod asterisk;
pub mod control;
pub mod ctip;
pub mod finesse;

/// The control handle of one running PBX, whatever its kind: remote commands and the API
/// reach every PBX through the one registry, [`PbxControls`].
#[derive(Clone)]
pub enum PbxControl {
    Ctip(ctip::control::CtipControl),
    Ami(ami::control::AmiControl),
    Ari(Box<ari::AriControl>),
}

/// The running PBXs' control handles, by `[[pbx]] name`.
pub(crate) type PbxControls = std::collections::BTreeMap<String, PbxControl>;

/// What a connector hands to its correlator.
#[derive(Debug, Clone)]
pub enum PbxEvent<M> {
    /// A message, stamped on arrival, with the raw line it came from.
    Message { ts_ms: i64, raw: String, message: M },
    /// Logged in; events flow.
    Up,
    /// The link dropped; open calls cannot be followed any more.
    Lost { ts_ms: i64, reason: String },
    /// The live picture the PBX listed (AMI `CoreShowChannels`, queue members), asked for at
    /// `asked_ms`, complete at `ts_ms`.
    Resync {
        asked_ms: i64,
        ts_ms: i64,
        items: Vec<M>,
    },
}

/// A pure decoder that frames a byte stream (CTIP lines, AMI messages).
pub(crate) trait WireDecoder {
    type Item;
    fn push(&mut self, bytes: &[u8]);
    fn next_item(&mut self) -> Option<Self::Item>;
}

/// Reads from the socket until the decoder yields an item; `None` when the peer closed.
pub(crate) async fn read_item<D: WireDecoder>(
    stream: &mut tokio::net::TcpStream,
    decoder: &mut D,
) -> std::io::Result<Option<D::Item>> {
    use tokio::io::AsyncReadExt;
    loop {
        if let Some(item) = decoder.next_item() {
            return Ok(Some(item));
        }
        let mut buf = [0u8; 8192];
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        decoder.push(&buf[..n]);
    }
}

/// TCP connect to a PBX with a deadline; Nagle off (PBX protocols are small request/answer
/// lines). The error says which address failed.
pub async fn connect(
    host: &str,
    port: u16,
    within: std::time::Duration,
) -> Result<tokio::net::TcpStream, (String, std::io::Error)> {
    let addr = format!("{host}:{port}");
    let stream = match tokio::time::timeout(within, tokio::net::TcpStream::connect(&addr)).await {
        Err(_) => return Err((addr, std::io::ErrorKind::TimedOut.into())),
        Ok(Err(e)) => return Err((addr, e)),
        Ok(Ok(s)) => s,
    };
    stream.set_nodelay(true).map_err(|e| (addr, e))?;
    Ok(stream)
}

/// A connector's link was lost: tells its correlator (open calls cannot be followed any
/// more), then reconnects after the backoff.
pub(crate) async fn tell_lost<M>(
    events: &tokio::sync::mpsc::Sender<PbxEvent<M>>,
    reason: &impl std::fmt::Display,
) -> crate::link::Retry {
    let _ = events
        .send(PbxEvent::Lost {
            ts_ms: crate::clock::now_ms(),
            reason: reason.to_string(),
        })
        .await;
    crate::link::Retry::AfterBackoff
}
