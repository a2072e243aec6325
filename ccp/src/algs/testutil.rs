//! Test harnesses: an agent fed scripted reports, and an agent joined to a datapath runtime
//! driven by a scripted ACK clock.

use crate::agent::{Agent, AgentConfig, Algorithm, ProgramSpec};
use crate::datapath::{Config, Datapath, Invocation, Primitives};
use crate::program::{implicit, Reg};
use crate::wire::{Create, FlowInfo, Measure, Msg};
use netrt::{Duration, Instant};

pub(crate) const MSS: u64 = 1460;

pub(crate) fn info(sid: u32, init_pkts: u32) -> Create {
    Create {
        sid,
        flow: FlowInfo {
            init_cwnd: init_pkts * MSS as u32,
            mss: MSS as u32,
            src_ip: 0x0a00_0001,
            src_port: 1000 + sid,
            dst_ip: 0x0a00_0101,
            dst_port: 80,
            alg: None,
        },
    }
}

/// An agent fed scripted reports.
pub(crate) struct Harness<A: Algorithm> {
    pub agent: Agent<A, ()>,
    specs: Vec<ProgramSpec>,
}

impl<A: Algorithm> Harness<A> {
    pub(crate) fn new(alg: A) -> Self {
        let specs = alg.programs();
        let agent = Agent::new(alg, AgentConfig::default()).unwrap();
        let mut h = Harness { agent, specs };
        h.drain();
        h
    }

    fn drain(&mut self) -> Vec<Msg> {
        let mut v = vec![];
        while let Some(((), b)) = self.agent.poll_transmit() {
            let (m, _) = Msg::decode(&b).unwrap();
            v.push(m);
        }
        v
    }

    /// CREATE for `info`; returns the agent's messages (without INSTALLs).
    pub(crate) fn create(&mut self, info: Create) -> Vec<Msg> {
        self.agent
            .handle_msg(Instant::ZERO, &(), Msg::Create(info))
            .unwrap();
        self.drain()
            .into_iter()
            .filter(|m| !matches!(m, Msg::InstallExpr(_)))
            .collect()
    }

    /// A report from `program` with the named fields (others 0, `minrtt` "no sample").
    pub(crate) fn report(&mut self, sid: u32, program: &str, fields: &[(&str, u64)]) -> Vec<Msg> {
        let spec = self
            .specs
            .iter()
            .find(|s| s.name == program)
            .unwrap_or_else(|| panic!("no program {program}"));
        let n = spec.scope.reports().count();
        let mut vals = vec![0u64; n];
        if let Some(i) = spec.scope.report_index("minrtt") {
            vals[i] = u64::from(u32::MAX);
        }
        for (k, v) in fields {
            let i = spec
                .scope
                .report_index(k)
                .unwrap_or_else(|| panic!("{program} has no report field {k}"));
            vals[i] = *v;
        }
        let uid = self.agent.program_uid(program).unwrap();
        self.agent
            .handle_msg(
                Instant::ZERO,
                &(),
                Msg::Measure(Measure {
                    sid,
                    program_uid: uid,
                    fields: vals,
                }),
            )
            .unwrap();
        self.drain()
    }

    /// Closes flow `sid`.
    pub(crate) fn close(&mut self, sid: u32) {
        self.agent
            .handle_msg(Instant::ZERO, &(), Msg::Measure(Measure::close(sid)))
            .unwrap();
    }

    /// The name of the program a CHANGE_PROG in `msgs` switches to.
    pub(crate) fn switched_to(&self, msgs: &[Msg]) -> Option<String> {
        msgs.iter().rev().find_map(|m| match m {
            Msg::ChangeProg(c) => self
                .specs
                .iter()
                .find(|s| self.agent.program_uid(&s.name) == Some(c.program_uid))
                .map(|s| s.name.clone()),
            _ => None,
        })
    }

    /// The value a message in `msgs` gives control field `name` of `program`.
    pub(crate) fn field_update(&self, msgs: &[Msg], program: &str, name: &str) -> Option<u64> {
        let spec = self.specs.iter().find(|s| s.name == program)?;
        let reg = spec.scope.lookup(name)?;
        last_update(msgs, reg)
    }
}

fn last_update(msgs: &[Msg], reg: Reg) -> Option<u64> {
    msgs.iter().rev().find_map(|m| {
        let ups = match m {
            Msg::UpdateFields(u) => &u.updates,
            Msg::ChangeProg(c) => &c.updates,
            _ => return None,
        };
        ups.iter().rev().find(|u| u.reg == reg).map(|u| u.value)
    })
}

/// The window the last message in `msgs` that sets one sets.
pub(crate) fn cwnd(msgs: &[Msg]) -> Option<u64> {
    last_update(msgs, Reg::implicit(implicit::CWND))
}

/// The rate the last message in `msgs` that sets one sets.
pub(crate) fn rate(msgs: &[Msg]) -> Option<u64> {
    last_update(msgs, Reg::implicit(implicit::RATE))
}

pub(crate) fn us(n: u64) -> Instant {
    Instant::from_micros(n)
}

/// An agent and a datapath runtime joined without delay; one flow.
pub(crate) struct Loop<A: Algorithm> {
    pub dp: Datapath,
    pub agent: Agent<A, ()>,
    pub sid: u32,
    /// The window and rate the datapath applies (starting from the flow's initial window).
    pub cwnd: u32,
    pub rate: u64,
    /// Messages the agent sent, decoded.
    pub sent: Vec<Msg>,
    /// Reports the datapath sent.
    pub received: Vec<Measure>,
}

impl<A: Algorithm> Loop<A> {
    pub(crate) fn new(alg: A, init_pkts: u32) -> Self {
        let mut dp = Datapath::new(Config::default(), us(0));
        let agent = Agent::new(alg, AgentConfig::default()).unwrap();
        let sid = dp.open_flow(us(0), info(1, init_pkts).flow).unwrap();
        let mut l = Loop {
            dp,
            agent,
            sid,
            cwnd: init_pkts * MSS as u32,
            rate: 0,
            sent: vec![],
            received: vec![],
        };
        l.pump(us(0));
        l
    }

    pub(crate) fn pump(&mut self, now: Instant) {
        loop {
            let mut any = false;
            while let Some(m) = self.dp.poll_transmit() {
                let m = m.to_vec();
                if let Ok((Msg::Measure(r), _)) = Msg::decode(&m) {
                    self.received.push(r);
                }
                self.agent.handle_bytes(now, &(), &m).unwrap();
                any = true;
            }
            while let Some(((), b)) = self.agent.poll_transmit() {
                let (m, _) = Msg::decode(&b).unwrap();
                self.sent.push(m);
                self.dp.handle_bytes(now, &b).unwrap();
                any = true;
            }
            if !any {
                break;
            }
        }
    }

    /// One ACK at `t_us`; the datapath's current window is filled in.
    pub(crate) fn ack(&mut self, t_us: u64, mut p: Primitives) -> Invocation {
        let now = us(t_us);
        self.pump(now);
        p.snd_cwnd = self.cwnd;
        p.snd_rate = self.rate;
        let inv = self.dp.invoke(now, self.sid, &p);
        assert_eq!(inv.error, None, "invoke at {t_us}");
        if let Some(c) = inv.cwnd {
            self.cwnd = c;
        }
        if let Some(r) = inv.rate {
            self.rate = r;
        }
        self.pump(now);
        inv
    }
}

/// An ACK of one MSS with an RTT sample.
pub(crate) fn ack(rtt_us: u64) -> Primitives {
    Primitives {
        bytes_acked: MSS as u32,
        packets_acked: 1,
        rtt_sample: Duration::from_micros(rtt_us),
        ..Default::default()
    }
}
