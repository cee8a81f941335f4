//! Blind and attended transfers, recorded on the transferer's call (rules in
//! `calls/ami.rs`).

use super::*;

impl AmiCorrelator {
    pub(super) fn blind_transfer(&mut self, out: &mut Out<'_>, m: &Message) {
        if m.get("Result") != Some("Success") {
            return;
        }
        let from = m.get("TransfererChannel").map(extension_of);
        let to = known(m.get("Extension")).map(str::to_owned);
        self.transferred(
            out,
            m.get("TransfererUniqueid"),
            TransferKind::Blind,
            from,
            to,
        );
    }

    pub(super) fn attended_transfer(&mut self, out: &mut Out<'_>, m: &Message) {
        if m.get("Result") != Some("Success") {
            return;
        }
        let from = m.get("OrigTransfererChannel").map(extension_of);
        let second = m.get("SecondTransfererUniqueid").unwrap_or_default();
        let to = known(m.get("TransferTargetChannel"))
            .map(extension_of)
            .or_else(|| self.channels.get(second)?.partner.clone());
        let uid = m.get("OrigTransfererUniqueid");
        self.transferred(out, uid, TransferKind::Attended, from, to);
    }

    fn transferred(
        &mut self,
        out: &mut Out<'_>,
        uid: Option<&str>,
        kind: TransferKind,
        from: Option<String>,
        to: Option<String>,
    ) {
        let at_ms = out.ts;
        let Some(call) = self.call_mut(uid) else {
            return;
        };
        call.transfers.push(Transfer {
            kind,
            from: from.clone(),
            to: to.clone(),
            at_ms,
        });
        let id = call.id.clone();
        out.push(
            &id,
            EventBody::CallTransferred(CallTransferred {
                transfer_kind: kind,
                from,
                to,
            }),
        );
    }
}
