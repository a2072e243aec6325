// A sharding Chunnel needs the key, so it cannot sit under a serializer: under it, data is
// bytes (`Vec<u8>` is not `Keyed`). This must not compile.
use chunnel::{stack, Chunnel};
use chunnels::chan::{pair, ChanConn, Faults};
use chunnels::serialize::bincode;
use chunnels::shard::{ClientShard, Keyed};

#[derive(serde::Serialize, serde::Deserialize)]
struct Req {
    key: Vec<u8>,
}

impl Keyed for Req {
    fn key(&self) -> &[u8] {
        &self.key
    }
}

/// Builds a stack over the in-process channel base, which carries `(u32, Vec<u8>)`.
fn over_chan<St: Chunnel<ChanConn>>(stack: St) -> St {
    stack
}

fn main() {
    let (_a, _b) = pair(Faults::none());
    let _ = over_chan(stack![bincode::<Req>(), ClientShard::new(vec![0u32])]);
}
