//! Connection setup: the SYN and its SYN-ACK (see the module docs of [`super`]).

use netrt::Instant;

use super::Sender;
use crate::wire::{AckInfo, Segment};

/// Connection setup in progress (the handshake is on and no SYN-ACK has arrived yet).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct SynState {
    /// SYN transmissions so far.
    pub(super) sent: u32,
    /// A SYN is on the wire (false before the first one and after its timeout).
    pub(super) outstanding: bool,
}

impl Sender {
    /// The SYN, if one should go out now.
    pub(super) fn transmit_syn(&mut self, now: Instant) -> Option<Segment> {
        if self.is_complete() {
            return None;
        }
        let syn = self.syn.as_mut()?;
        if syn.outstanding {
            return None;
        }
        syn.outstanding = true;
        syn.sent = syn.sent.saturating_add(1);
        let retransmit = syn.sent > 1;
        self.stats.segments_sent += 1;
        if retransmit {
            self.stats.syn_retransmits += 1;
            self.stats.retransmitted_segments += 1;
        }
        self.rto_deadline = Some(now + self.rtt.rto());
        Some(Segment {
            seq: self.snd_nxt,
            len: 0,
            ts: now,
            retransmit,
            fin: false,
            syn: true,
        })
    }

    /// An ACK before the connection is established, or any SYN-ACK. The first SYN-ACK that
    /// answers a SYN of ours establishes the connection and gives the first RTT sample (the
    /// timestamp echo tells which SYN it answers, so a retransmitted SYN's sample is valid too);
    /// everything else is ignored.
    pub(super) fn on_syn_ack(&mut self, now: Instant, ack: &AckInfo) {
        let Some(syn) = self.syn else {
            return; // a late or duplicate SYN-ACK: already established
        };
        if !ack.syn || syn.sent == 0 {
            return;
        }
        let r = now.saturating_since(ack.ts_echo);
        self.rtt.sample(r);
        self.update_rtt_stats(r);
        self.syn = None;
        self.rto_deadline = None;
    }
}
