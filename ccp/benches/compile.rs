//! Compiling a Reno-like reporting program (lexing, parsing, type checking, code generation and
//! encoding of the INSTALL_EXPR body), ours beside portus 0.9's compiler.

use criterion::{black_box, criterion_group, criterion_main, Criterion};

const RENO: &str = "
(def (Report
    (volatile acked 0)
    (volatile sacked 0)
    (volatile loss 0)
    (volatile timeout false)
    (volatile rtt 0)
    (volatile inflight 0)
))
(when true
    (:= Report.inflight Flow.packets_in_flight)
    (:= Report.rtt Flow.rtt_sample_us)
    (:= Report.acked (+ Report.acked Ack.bytes_acked))
    (:= Report.sacked (+ Report.sacked Ack.packets_misordered))
    (:= Report.loss Ack.lost_pkts_sample)
    (:= Report.timeout Flow.was_timeout)
    (fallthrough)
)
(when (|| Report.timeout (> Report.loss 0))
    (report)
    (:= Micros 0)
)
(when (> Micros Flow.rtt_sample_us)
    (report)
    (:= Micros 0)
)
";

fn compile(c: &mut Criterion) {
    let mut g = c.benchmark_group("compile_reno");
    g.bench_function("ours", |b| {
        b.iter(|| {
            let c = ccp::lang::compile(black_box(RENO), &[]).expect("compiles");
            black_box(c.program.encode_body())
        })
    });
    g.bench_function("portus", |b| {
        b.iter(|| {
            let (bin, _) =
                portus::lang::compile(black_box(RENO.as_bytes()), &[]).expect("compiles");
            black_box(bin.serialize().expect("serializes"))
        })
    });
    g.finish();
}

criterion_group!(benches, compile);
criterion_main!(benches);
