//! The two shipped scenarios end to end (build, run, summarize; no result files): the 60-second
//! Reno dumbbell and the 50 × 100-packet incast. Targets on the 2-core VM, release build:
//! dumbbell < 1 s, incast < 0.05 s.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use scenarios::config::load;
use scenarios::runner::run;

fn bench(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut g = c.benchmark_group("scenario");
    g.sample_size(10);
    for name in ["dumbbell", "incast"] {
        let loaded = load(&dir.join(format!("{name}.toml")), &[]).expect("shipped scenario loads");
        g.bench_function(name, |b| {
            b.iter(|| run(&loaded, None).expect("shipped scenario runs"))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
