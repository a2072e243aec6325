//! Ordered multicast on the simulator: two senders and three receivers around one
//! programmable switch (`tor`), a sequencer host behind it. The same application function runs
//! with a registry where the switch sequencer is deployed with room for the group (the switch
//! stamps and replicates; the host sequencer sees nothing), with one where it is deployed with
//! too little room, and with none (the host sequencer stamps, and the plan says why). Every
//! receiver delivers every message in one identical order, each sender's messages in the
//! order it sent them.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;

use chunnel::{Chunnel, ChunnelConnection, Registry};
use chunnels::multicast::{
    plan_sequencer, switch_registry, Delivery, HostSequencer, OrderedMcast, SequencerConfig,
    SequencerTable, SocketConn, SwitchGroup, SwitchSequencer, HOST_IMPL, SWITCH_IMPL,
    SWITCH_PRIORITY,
};
use netmodels::link::LinkConfig;
use netmodels::network::NetworkOptions;
use netmodels::queue::QueueConfig;
use netmodels::topology::PortParams;
use netmodels::{node_ip, Network, ProgramConfig, ProgrammableSwitch, Topology};
use netrt::{Duration, Runtime};
use sim_core::{RngStreams, Simulation};

const PER_SENDER: u32 = 50;
const GROUP_PORT: u16 = 9000;
const RECV_PORT: u16 = 9001;

fn port() -> PortParams {
    PortParams {
        link: LinkConfig::fixed_bps(1_000_000_000),
        delay_us: 5.0,
        queue: QueueConfig::DropTail {
            limit_packets: Some(10_000),
            limit_bytes: None,
        },
        loss: 0.0,
        burst_release_us: None,
    }
}

/// What the application saw.
#[derive(Debug)]
struct Outcome {
    /// The sequencer the group's negotiation chose, and why better ones were passed over.
    chosen: String,
    fallbacks: Vec<String>,
    /// Per receiver: `(sender, payload)` in delivery order.
    orders: Vec<Vec<(SocketAddr, Vec<u8>)>>,
    /// Requests the host sequencer stamped.
    host_stamped: u64,
}

/// The application, generic over the runtime: negotiate the sequencer, run the host
/// sequencer at the group address (the fallback: a switch sequencer on the path takes the
/// requests before they reach it), then every sender sends `PER_SENDER` messages to the group
/// and every receiver delivers until it has them all.
async fn replicate<R: Runtime>(
    reg: Registry,
    seq_rt: R,
    group: SocketAddr,
    senders: Vec<R>,
    receivers: Vec<(R, SocketAddr)>,
) -> std::io::Result<Outcome> {
    let plan = plan_sequencer(&reg).map_err(std::io::Error::other)?;
    let ssock = seq_rt.bind_udp(group).await?;
    let host = HostSequencer::spawn(
        &seq_rt,
        SocketConn::new(ssock),
        SequencerConfig {
            receivers: receivers.iter().map(|r| r.1).collect(),
            session: 1,
        },
    );
    let member = |rt: &R| {
        if plan.is_switch() {
            OrderedMcast::switch(rt.clone())
        } else {
            OrderedMcast::host(rt.clone())
        }
    };
    let mut rtasks = Vec::new();
    for (rt, addr) in &receivers {
        let sock = rt.bind_udp(*addr).await?;
        let conn = member(rt)
            .connect_wrap(SocketConn::new(sock))
            .await
            .map_err(std::io::Error::other)?;
        let want = PER_SENDER as usize * senders.len();
        rtasks.push(rt.spawn(async move {
            let mut got = Vec::new();
            while got.len() < want {
                match conn.recv_event().await {
                    Ok(Delivery::Msg { from, payload, .. }) => got.push((from, payload)),
                    Ok(Delivery::Notice(n)) => panic!("no loss in this network: {n}"),
                    Err(e) => panic!("receive: {e}"),
                }
            }
            got
        }));
    }
    let mut stasks = Vec::new();
    for (k, rt) in senders.iter().enumerate() {
        let sock = rt.bind_udp("0.0.0.0:0".parse().unwrap()).await?;
        let conn = member(rt)
            .with_sequencer(group)
            .connect_wrap(SocketConn::new(sock))
            .await
            .map_err(std::io::Error::other)?;
        let rt2 = rt.clone();
        stasks.push(rt.spawn(async move {
            // Interleaved: sender k starts k * 3 µs late, one message every 10 µs.
            rt2.sleep(Duration::from_micros(3 * k as u64)).await;
            for i in 0..PER_SENDER {
                let mut m = vec![k as u8];
                m.extend_from_slice(&i.to_le_bytes());
                conn.send((group, m)).await.expect("send");
                rt2.sleep(Duration::from_micros(10)).await;
            }
        }));
    }
    for t in stasks {
        t.await.map_err(std::io::Error::other)?;
    }
    let mut orders = Vec::new();
    for t in rtasks {
        let got = seq_rt
            .timeout(Duration::from_secs(1), t)
            .await
            .map_err(std::io::Error::other)?
            .map_err(std::io::Error::other)?;
        orders.push(got);
    }
    Ok(Outcome {
        chosen: plan.chosen.implementation.clone(),
        fallbacks: plan.fallbacks.clone(),
        orders,
        host_stamped: host.stats().stamped,
    })
}

/// Builds the network, installs the switch sequencer on `tor` with `table_entries` of room if
/// asked, and runs [`replicate`]. Returns the outcome and the switch's stamp count.
fn on_sim(switch_room: Option<u64>) -> (Outcome, u64) {
    let mut topo = Topology::default();
    let bps = 1_000_000_000;
    let senders: Vec<u32> = (0..2)
        .map(|i| topo.add_host(&format!("sender{i}"), bps))
        .collect();
    let receivers: Vec<u32> = (0..3)
        .map(|i| topo.add_host(&format!("replica{i}"), bps))
        .collect();
    let seq_host = topo.add_host("sequencer", bps);
    let tor = topo.add_middlebox("tor", ProgramConfig::Forward);
    for (i, h) in senders
        .iter()
        .chain(&receivers)
        .chain([&seq_host])
        .enumerate()
    {
        topo.add_link(&format!("l{i}"), *h, tor, port(), port());
    }
    let mut net = Network::new(topo, NetworkOptions::default(), &RngStreams::new(1)).unwrap();
    let group = SocketAddr::from((node_ip(seq_host), GROUP_PORT));
    let raddrs: Vec<SocketAddr> = receivers
        .iter()
        .map(|h| SocketAddr::from((node_ip(*h), RECV_PORT)))
        .collect();
    let table = SequencerTable::new();
    let reg = match switch_room {
        Some(room) => {
            assert!(net.set_program(
                tor,
                Box::new(SwitchSequencer::new(
                    table.clone(),
                    Duration::from_nanos(500)
                ))
            ));
            let sw = Rc::new(RefCell::new(ProgrammableSwitch::new("tor", room, 1, None)));
            let g = SwitchGroup {
                group,
                receivers: raddrs.clone(),
                session: 1,
            };
            switch_registry(sw, &table, g, SWITCH_PRIORITY)
        }
        None => Registry::new(),
    };
    let mut sim = Simulation::new(net);
    let rt = |h| sim.model().runtime(sim.handle(), h).unwrap();
    let seq_rt = rt(seq_host);
    let srts = senders.iter().map(|h| rt(*h)).collect();
    let rrts = receivers
        .iter()
        .zip(&raddrs)
        .map(|(h, a)| (rt(*h), *a))
        .collect();
    let out = sim
        .block_on(replicate(reg, seq_rt, group, srts, rrts))
        .expect("finishes")
        .expect("runs");
    (out, table.stats().stamped)
}

fn check_one_order(out: &Outcome) {
    assert_eq!(out.orders.len(), 3);
    let first = &out.orders[0];
    assert_eq!(first.len(), 2 * PER_SENDER as usize);
    for o in &out.orders[1..] {
        assert_eq!(o, first, "identical delivery order at every receiver");
    }
    // Each sender's messages in its order; the two senders interleaved.
    for k in 0..2u8 {
        let mine: Vec<u32> = first
            .iter()
            .filter(|(_, m)| m[0] == k)
            .map(|(_, m)| u32::from_le_bytes(m[1..5].try_into().unwrap()))
            .collect();
        assert_eq!(mine, (0..PER_SENDER).collect::<Vec<_>>());
    }
    let senders: Vec<SocketAddr> = first.iter().map(|(a, _)| *a).collect();
    assert!(senders.windows(2).any(|w| w[0] != w[1]));
    let mut distinct = senders.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 2, "the original senders' addresses");
}

#[test]
fn switch_sequencer_orders_the_group() {
    let (out, switch_stamped) = on_sim(Some(3));
    assert_eq!(out.chosen, SWITCH_IMPL, "{out:?}");
    assert!(out.fallbacks.is_empty());
    check_one_order(&out);
    assert_eq!(switch_stamped, 2 * u64::from(PER_SENDER));
    assert_eq!(out.host_stamped, 0, "the switch took every request");
}

#[test]
fn host_sequencer_orders_the_group_when_the_switch_has_no_room_or_none_is_deployed() {
    for room in [Some(2), None] {
        let (out, switch_stamped) = on_sim(room);
        assert_eq!(out.chosen, HOST_IMPL, "{out:?}");
        let why = if room.is_some() {
            "table entries exhausted"
        } else {
            "not registered"
        };
        assert!(
            out.fallbacks.iter().any(|f| f.contains(why)),
            "{:?}",
            out.fallbacks
        );
        check_one_order(&out);
        assert_eq!(switch_stamped, 0);
        assert_eq!(out.host_stamped, 2 * u64::from(PER_SENDER));
    }
}

#[test]
fn runs_are_deterministic() {
    let (a, _) = on_sim(Some(3));
    let (b, _) = on_sim(Some(3));
    assert_eq!(a.orders, b.orders);
}

/// `SocketConn::recv` is cancel-safe: a receive dropped before its datagram arrives loses
/// neither the datagram nor the buffer (a later receive gets the whole datagram).
#[test]
fn socket_conn_receive_survives_a_dropped_receive() {
    use netrt::{DatagramSocket, Duration as NDuration};
    let rt = datapaths::tokio_rt::TokioRuntime::new().unwrap();
    rt.block_on(async {
        let a = rt.bind_udp("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let b = rt.bind_udp("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let baddr = b.local_addr().unwrap();
        let conn = chunnels::multicast::SocketConn::new(b);
        // A receive that times out (its future dropped with the buffer taken).
        assert!(rt
            .timeout(NDuration::from_millis(5), conn.recv())
            .await
            .is_err());
        a.send_to(&[9u8; 1000], &baddr).await.unwrap();
        let (_, d) = conn.recv().await.unwrap();
        assert_eq!(d, vec![9u8; 1000], "the whole datagram");
    });
}
