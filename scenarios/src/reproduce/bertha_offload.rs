//! The offload-contention experiment of `testbed reproduce`: two applications want the
//! switch's sharding offload, which has room for one; negotiation decides, says why, and both
//! applications' p95 latency is compared with a switch that has room for both. Runs on the
//! simulator like the other sharded-store experiments (`bertha_kv`).

use std::path::{Path, PathBuf};

use kvstore::experiment::{ExperimentConfig, Fig5Scenario};
use kvstore::offload::OffloadConfig;

use super::bertha_kv::{find, machine_note, options_note, row, run_points, Point};
use super::{Analysis, Options, ReproduceError};
use crate::figures::{Line, Panel};

const LOADS_OC: [f64; 5] = [20e3, 40e3, 60e3, 80e3, 100e3];
const ROOM_1: &str = "room for one";
const ROOM_2: &str = "room for both";

/// Offload contention: two applications (a client host each, one connection each) connect to
/// the sharded store behind a switch whose steering table has one entry; negotiation gives
/// the offload to the first and the host fallback to the second, saying why. Compared with
/// the same switch with room for both.
pub(super) fn offload_contention(
    opts: &Options,
    dir: &Path,
    seeds: u64,
) -> Result<(Analysis, Vec<PathBuf>), ReproduceError> {
    let mut points = Vec::new();
    for offered in LOADS_OC {
        for (group, entries) in [(ROOM_1, 1), (ROOM_2, 2)] {
            let mut cfg = ExperimentConfig::hotnets_fig_5(Fig5Scenario::ServerAccelerated, offered);
            cfg.offload = Some(OffloadConfig {
                table_entries: entries,
                ..OffloadConfig::default()
            });
            points.push(Point {
                group,
                series: "both".into(),
                offered,
                cfg,
            });
        }
    }
    let aggs = run_points(opts, dir, seeds, &points)?;
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for group in [ROOM_1, ROOM_2] {
        if let Some(s) = points
            .iter()
            .zip(&aggs)
            .find(|(p, _)| p.group == group)
            .and_then(|(_, a)| a.first.as_ref())
        {
            notes.push(format!(
                "{group}: negotiation chose (front connections per implementation) {:?}; \
                 reasons given for fallbacks: {}",
                s.server.chosen,
                if s.server.fallbacks.is_empty() {
                    "none".to_string()
                } else {
                    s.server.fallbacks.join(" | ")
                }
            ));
            let offloaded = s.server.chosen.get(kvstore::offload::OFFLOAD_IMPL).copied();
            rows.push(row(
                format!("{group}: connections given the switch offload"),
                "connections",
                offloaded.unwrap_or(0) as f64,
                "-",
                None,
                if group == ROOM_1 {
                    "(issue 12, no paper figure) one application gets it, the other the host fallback, with the reason"
                } else {
                    "(control) both get it"
                },
            ));
        }
    }
    for offered in LOADS_OC {
        let (Some(one), Some(two)) = (
            find(&points, &aggs, ROOM_1, "both", offered),
            find(&points, &aggs, ROOM_2, "both", offered),
        ) else {
            continue;
        };
        for (i, app) in ["application A (connects first)", "application B"]
            .iter()
            .enumerate()
        {
            rows.push(row(
                format!("{:.0} kOps/s: p95, {app}, {ROOM_1}", offered / 1e3),
                "µs",
                one.conn_p95.get(i).copied().unwrap_or(f64::NAN),
                ROOM_2,
                two.conn_p95.get(i).copied(),
                "no paper figure",
            ));
        }
    }
    let line = |group: &str, i: usize| -> Vec<(f64, f64)> {
        points
            .iter()
            .zip(&aggs)
            .filter(|(p, _)| p.group == group)
            .map(|(p, a)| {
                (
                    p.offered / 1e3,
                    a.conn_p95.get(i).copied().unwrap_or(f64::NAN),
                )
            })
            .collect()
    };
    let panels = vec![Panel {
        title: "p95 latency per application".into(),
        x_label: "offered load, both applications together (kOps/s)".into(),
        y_label: "p95 latency (µs)".into(),
        lines: vec![
            Line {
                label: "A, room for one (offloaded)".into(),
                points: line(ROOM_1, 0),
                color: 0,
                dashed: false,
            },
            Line {
                label: "B, room for one (host fallback)".into(),
                points: line(ROOM_1, 1),
                color: 1,
                dashed: false,
            },
            Line {
                label: "A, room for both".into(),
                points: line(ROOM_2, 0),
                color: 0,
                dashed: true,
            },
            Line {
                label: "B, room for both".into(),
                points: line(ROOM_2, 1),
                color: 1,
                dashed: true,
            },
        ],
        x_range: None,
        y_range: None,
    }];
    notes.extend([
        "Setup: HotNets Fig 5's Server Accelerated scenario (4 shards, 2 plain clients x 1 \
         connection, YCSB A uniform, equal load each) with the switch's steering table holding \
         1 entry (room for one) or 2 (room for both). The registry reserves one table entry \
         per negotiated connection; application A negotiates first and gets the offload; \
         application B's negotiation finds no capacity and gets the host fallback \
         (UDP-forwarding sharder, CostModel::MEASURED_UDP_FORWARD), with the reason above."
            .into(),
        options_note(opts, seeds),
        machine_note(),
    ]);
    Ok((
        Analysis {
            figures: vec![(
                "offload_contention".into(),
                "Offload contention: two applications, a switch offload with room for one (simulated with measured loopback costs)".into(),
                panels,
                1,
            )],
            rows,
            notes,
        },
        vec![dir.join("samples.csv")],
    ))
}
