//! The agent's handling of one report: decode a MEASURE, route it to the flow's state (the
//! built-in Reno), and encode the UPDATE_FIELDS it answers with.

use ccp::agent::builtin::Reno;
use ccp::agent::{Agent, AgentConfig};
use ccp::wire::{Create, FlowInfo, Measure, Msg};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use netrt::Instant;

fn report(c: &mut Criterion) {
    let mut agent: Agent<Reno, ()> = Agent::new(Reno, AgentConfig::default()).unwrap();
    agent
        .handle_msg(
            Instant::ZERO,
            &(),
            Msg::Create(Create {
                sid: 1,
                flow: FlowInfo {
                    init_cwnd: 14_600,
                    mss: 1460,
                    ..Default::default()
                },
            }),
        )
        .unwrap();
    while agent.poll_transmit().is_some() {}
    let uid = agent.program_uid("reno").unwrap();
    let bytes = Msg::Measure(Measure {
        sid: 1,
        program_uid: uid,
        fields: vec![14_600, 0, 0, 10_000],
    })
    .encode()
    .unwrap();
    c.bench_function("agent/report/reno", |b| {
        b.iter(|| {
            agent
                .handle_bytes(Instant::ZERO, &(), black_box(&bytes))
                .unwrap();
            let out = agent.poll_transmit();
            black_box(out)
        })
    });
}

criterion_group!(benches, report);
criterion_main!(benches);
