// The well-typed order: the sharder above the serializer sees `(A, Req)` with `Req: Keyed`.
use chunnel::{stack, Chunnel};
use chunnels::chan::{pair, Faults};
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

async fn build() {
    let (a, _b) = pair(Faults::none());
    let _ = stack![ClientShard::new(vec![0u32]), bincode::<Req>()]
        .connect_wrap(a)
        .await;
}

fn main() {
    let _ = build();
}
