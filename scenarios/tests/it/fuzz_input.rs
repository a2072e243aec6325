//! Nothing panics on any user input: arbitrary text, and shipped scenarios with lines deleted,
//! duplicated or with values swapped for other values, go through load + build (+ a short run
//! when they are valid) and come back as `Ok` or a clean error.

use std::path::Path;

use proptest::prelude::*;
use scenarios::config::parse;
use scenarios::runner::{build, run};

const FILES: [&str; 4] = [
    "dumbbell.toml",
    "incast.toml",
    "cell.toml",
    "websearch.toml",
];

fn base() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn check(text: &str) {
    let Ok(mut loaded) = parse(text, "fuzz.toml", base(), &[]) else {
        return;
    };
    if build(&loaded.scenario, "fuzz.toml", None).is_err() {
        return;
    }
    // Keep runs short: the point is that valid input runs without panicking.
    loaded.scenario.duration_s = loaded.scenario.duration_s.min(0.05);
    let _ = run(&loaded, None);
}

const VALUES: [&str; 12] = [
    "0",
    "-1",
    "1e308",
    "nan",
    "\"\"",
    "\"x\"",
    "true",
    "[]",
    "{}",
    "4294967296",
    "0.0",
    "-0.5",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,400}") {
        check(&s);
    }

    #[test]
    fn mutated_scenarios_never_panic(file in 0usize..4, edits in proptest::collection::vec((0usize..200, 0usize..3, 0usize..12), 1..4)) {
        let text = std::fs::read_to_string(base().join(FILES[file])).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        for (at, op, v) in edits {
            if lines.is_empty() { break; }
            let i = at % lines.len();
            match op {
                0 => { lines.remove(i); }
                1 => { let l = lines[i].clone(); lines.insert(i, l); }
                _ => {
                    if let Some((k, _)) = lines[i].split_once('=') {
                        lines[i] = format!("{k}= {}", VALUES[v]);
                    }
                }
            }
        }
        check(&lines.join("\n"));
    }
}
