//! Who a call was offered to: every extension or agent it rang, in order, with how long it
//! rang and whether that one answered. A call nobody answered still names the people who
//! missed it, which the supervisor's missed counts and the SMS rules' extension filters need.

use serde::{Deserialize, Serialize};

/// One extension (or queue agent) the call rang.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    /// The extension, or the agent's name where the PBX offers calls to agents.
    pub extension: String,
    /// When it started ringing there (Unix ms).
    pub rang_at: i64,
    /// How long it rang (ms): until answered there, released there, or the call's end.
    pub ring_ms: i64,
    pub answered: bool,
}

/// Most offers one call keeps. A call centre's queue rings a few dozen members at most; a
/// call re-offered round-robin for an hour, or a hostile stream, stops growing here (later
/// offers are dropped and counted).
pub const MAX_OFFERS: usize = 64;

/// The offers of one open call, as its correlator learns them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Offers {
    offers: Vec<Offer>,
    /// Offers still ringing: index into `offers`.
    ringing: Vec<usize>,
    /// Offers past [`MAX_OFFERS`], dropped.
    pub dropped: u32,
}

impl Offers {
    /// The call starts ringing at `extension`; a second ring there while it still rings is the
    /// same offer.
    pub fn ring(&mut self, extension: &str, at: i64) {
        if self.ringing_at(extension).is_some() {
            return;
        }
        if self.offers.len() >= MAX_OFFERS {
            self.dropped = self.dropped.saturating_add(1);
            return;
        }
        self.ringing.push(self.offers.len());
        self.offers.push(Offer {
            extension: extension.to_owned(),
            rang_at: at,
            ring_ms: 0,
            answered: false,
        });
    }

    /// `extension` answered: its ringing offer (or a new one of no ring time, when the PBX
    /// never said it rang) is marked answered.
    pub fn answered(&mut self, extension: &str, at: i64) {
        if self.ringing_at(extension).is_none() {
            self.ring(extension, at);
        }
        if let Some(i) = self.stop(extension, at) {
            self.offers[i].answered = true;
        }
    }

    /// `extension` stopped ringing without answering (released, timed out, rejected).
    pub fn stopped(&mut self, extension: &str, at: i64) {
        self.stop(extension, at);
    }

    /// Every offer still ringing stops at `at` (someone else answered, or the call ended).
    pub fn stop_all(&mut self, at: i64) {
        for i in std::mem::take(&mut self.ringing) {
            close(&mut self.offers[i], at);
        }
    }

    /// The call's offers once it ended at `ended_at`.
    pub fn finish(mut self, ended_at: i64) -> Vec<Offer> {
        self.stop_all(ended_at);
        self.offers
    }

    /// Folds another call's offers into this one (two legs found to be one call).
    pub fn absorb(&mut self, other: Offers) {
        for (i, offer) in other.offers.into_iter().enumerate() {
            if self.offers.len() >= MAX_OFFERS {
                self.dropped = self.dropped.saturating_add(1);
                continue;
            }
            if other.ringing.contains(&i) {
                self.ringing.push(self.offers.len());
            }
            self.offers.push(offer);
        }
        self.dropped = self.dropped.saturating_add(other.dropped);
    }

    /// Whether the call was ever offered to `extension`.
    pub fn has(&self, extension: &str) -> bool {
        self.offers.iter().any(|o| o.extension == extension)
    }

    fn ringing_at(&self, extension: &str) -> Option<usize> {
        self.ringing
            .iter()
            .position(|&i| self.offers[i].extension == extension)
    }

    fn stop(&mut self, extension: &str, at: i64) -> Option<usize> {
        let slot = self.ringing_at(extension)?;
        let i = self.ringing.swap_remove(slot);
        close(&mut self.offers[i], at);
        Some(i)
    }
}

fn close(offer: &mut Offer, at: i64) {
    offer.ring_ms = at.saturating_sub(offer.rang_at).max(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_group_names_everyone_it_rang_and_who_answered() {
        let mut offers = Offers::default();
        offers.ring("101", 1_000);
        offers.ring("102", 1_000);
        offers.ring("101", 1_500);
        offers.answered("102", 4_000);
        offers.stop_all(4_000);
        let rang = offers.finish(60_000);
        assert_eq!(
            rang,
            vec![
                Offer {
                    extension: "101".into(),
                    rang_at: 1_000,
                    ring_ms: 3_000,
                    answered: false
                },
                Offer {
                    extension: "102".into(),
                    rang_at: 1_000,
                    ring_ms: 3_000,
                    answered: true
                },
            ]
        );
    }

    #[test]
    fn a_call_nobody_answered_rings_until_it_ends_and_a_recall_is_a_new_offer() {
        let mut offers = Offers::default();
        offers.ring("201", 0);
        offers.stopped("201", 20_000);
        offers.ring("201", 25_000);
        let rang = offers.finish(30_000);
        assert_eq!(rang.len(), 2);
        assert_eq!((rang[0].ring_ms, rang[1].ring_ms), (20_000, 5_000));
        assert!(rang.iter().all(|o| !o.answered));
    }

    #[test]
    fn an_answer_without_a_ring_is_an_offer_of_no_ring_time() {
        let mut offers = Offers::default();
        offers.answered("300", 5_000);
        assert_eq!(
            offers.finish(9_000),
            vec![Offer {
                extension: "300".into(),
                rang_at: 5_000,
                ring_ms: 0,
                answered: true
            }]
        );
    }

    #[test]
    fn past_the_bound_offers_are_dropped_and_counted_and_times_never_go_negative() {
        let mut offers = Offers::default();
        for n in 0..(MAX_OFFERS + 10) {
            offers.ring(&n.to_string(), i64::MAX - 5);
        }
        assert_eq!(offers.dropped, 10);
        let rang = offers.finish(i64::MIN);
        assert_eq!(rang.len(), MAX_OFFERS);
        assert!(rang.iter().all(|o| o.ring_ms == 0));
    }

    #[test]
    fn two_legs_merged_keep_both_offers_and_the_ringing_ones_still_ring() {
        let mut a = Offers::default();
        a.ring("101", 0);
        a.answered("101", 1_000);
        let mut b = Offers::default();
        b.ring("102", 500);
        a.absorb(b);
        let rang = a.finish(3_000);
        assert_eq!(rang.len(), 2);
        assert_eq!(
            (rang[1].extension.as_str(), rang[1].ring_ms),
            ("102", 2_500)
        );
    }
}
