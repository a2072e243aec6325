// A pass rewrites the stack's *type* at compile time: the result is the fused stack, and a
// constant computed from the types says so before anything runs.
use chunnel::opt::{Apply, Bool, Optimize};
use chunnel::{stack, stack_type};
use chunnels::encrypt::EncryptChunnel;
use chunnels::encrypt_or_local::EncryptOrLocalChunnel;
use chunnels::local_or_remote::LocalOrRemoteChunnel;
use chunnels::opt::FuseEncryptLocal;
use chunnels::ordered::OrderedChunnel;
use datapaths::tokio_rt::TokioRuntime;
use rand_chacha::ChaCha20Rng;

type Addr = std::net::SocketAddr;
type Lc = chunnels::chan::ChanConn;
type Before = stack_type![
    OrderedChunnel,
    EncryptChunnel<TokioRuntime, Addr>,
    LocalOrRemoteChunnel<Lc, Addr, Addr>
];
type After = stack_type![OrderedChunnel, EncryptOrLocalChunnel<TokioRuntime, Addr, Lc, Addr>];

// Evaluated by the compiler: a compile-time fact about the types.
const REWRITES: bool = <<Before as Apply<FuseEncryptLocal>>::Changed as Bool>::VALUE;
const _: () = assert!(REWRITES);
const _: () = assert!(!<<After as Apply<FuseEncryptLocal>>::Changed as Bool>::VALUE);

fn build(rt: TokioRuntime, rng: ChaCha20Rng) -> After {
    let s: Before = stack![
        OrderedChunnel::new(),
        EncryptChunnel::client(rt, "127.0.0.1:1".parse().unwrap(), rng),
        LocalOrRemoteChunnel::new(|| None::<Lc>, |_: &Addr| None::<Addr>, |_: &Addr| None)
    ];
    s.optimize::<FuseEncryptLocal>()
}

fn main() {
    let _ = build;
}
