//! Precision and recall of every built-in detector on a labelled corpus.
//!
//! `tests/corpus.jsonl` holds one object per line: `text`, `expect` (the
//! detections a perfect scrubber makes, as `[detector, exact matched
//! text]`) and `note`. It mixes PII planted into log lines of loghub's
//! shapes, real loghub lines (their IP addresses and e-mails labelled), and
//! hard negatives: order and tracking numbers, ids that fail Luhn or have no
//! card prefix, versions, OIDs, times, MACs, dates, UUIDs, block ids, git
//! SHAs, invalid SSN ranges, phone-like numbers, malformed e-mails, base64
//! that is not a JWT, `Bearer` in prose.
//!
//! Detections are scored as the stage redacts them (overlaps resolved), per
//! line, as multisets of (detector, text).
//!
//! `cargo test --test corpus -- --nocapture` prints the table that
//! `RESULTS.md` holds.

use std::collections::BTreeMap;

use serde_json::{json, Value as Json};
use sluice_plugin_pii::detect::Builtin;
use sluice_plugin_pii::scrub::Scratch;
use sluice_plugin_pii::Pii;
use sluice_sdk::testing;

const CORPUS: &str = include_str!("corpus.jsonl");

struct Line {
    text: String,
    expect: Vec<(String, String)>,
}

fn corpus() -> Vec<Line> {
    CORPUS
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let row: Json =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", i + 1));
            let expect = row["expect"]
                .as_array()
                .unwrap()
                .iter()
                .map(|pair| {
                    let name = pair[0].as_str().unwrap().to_owned();
                    assert!(
                        Builtin::from_name(&name).is_some(),
                        "line {}: {name}",
                        i + 1
                    );
                    (name, pair[1].as_str().unwrap().to_owned())
                })
                .collect();
            Line {
                text: row["text"].as_str().unwrap().to_owned(),
                expect,
            }
        })
        .collect()
}

#[derive(Default, Clone, Copy)]
struct Score {
    tp: usize,
    fp: usize,
    fn_: usize,
}

impl Score {
    fn precision(self) -> f64 {
        if self.tp + self.fp == 0 {
            1.0
        } else {
            self.tp as f64 / (self.tp + self.fp) as f64
        }
    }
    fn recall(self) -> f64 {
        if self.tp + self.fn_ == 0 {
            1.0
        } else {
            self.tp as f64 / (self.tp + self.fn_) as f64
        }
    }
}

#[test]
fn precision_and_recall_per_detector() {
    let p = testing::configure::<Pii>(json!({})).unwrap();
    let scrubber = p.redactor().scrubber();
    let lines = corpus();
    let mut scores: BTreeMap<&str, Score> = Builtin::ALL
        .iter()
        .map(|b| (b.name(), Score::default()))
        .collect();
    let mut misses = Vec::new();
    let (mut scratch, mut matches) = (Scratch::default(), Vec::new());
    for (i, line) in lines.iter().enumerate() {
        scrubber.find(&line.text, &mut scratch, &mut matches);
        let mut found: Vec<(&str, &str)> = matches
            .iter()
            .map(|m| {
                (
                    scrubber.detectors()[m.detector].name.as_str(),
                    &line.text[m.start..m.end],
                )
            })
            .collect();
        for (name, value) in &line.expect {
            let score = scores.get_mut(name.as_str()).unwrap();
            match found.iter().position(|(n, v)| n == name && v == value) {
                Some(at) => {
                    found.swap_remove(at);
                    score.tp += 1;
                }
                None => {
                    score.fn_ += 1;
                    misses.push(format!(
                        "line {}: missed {name} `{value}` in: {}",
                        i + 1,
                        line.text
                    ));
                }
            }
        }
        for (name, value) in found {
            scores.get_mut(name).unwrap().fp += 1;
            misses.push(format!(
                "line {}: false {name} `{value}` in: {}",
                i + 1,
                line.text
            ));
        }
    }

    let negatives = lines.iter().filter(|l| l.expect.is_empty()).count();
    let labels: usize = lines.iter().map(|l| l.expect.len()).sum();
    println!(
        "corpus: {} lines, {labels} labelled detections, {negatives} lines without any\n",
        lines.len()
    );
    println!("| detector | TP | FP | FN | precision | recall |");
    println!("|---|---:|---:|---:|---:|---:|");
    let mut all = Score::default();
    for b in Builtin::ALL {
        let s = scores[b.name()];
        all.tp += s.tp;
        all.fp += s.fp;
        all.fn_ += s.fn_;
        println!(
            "| {} | {} | {} | {} | {:.3} | {:.3} |",
            b.name(),
            s.tp,
            s.fp,
            s.fn_,
            s.precision(),
            s.recall()
        );
    }
    println!(
        "| **all** | {} | {} | {} | {:.3} | {:.3} |",
        all.tp,
        all.fp,
        all.fn_,
        all.precision(),
        all.recall()
    );
    for m in &misses {
        println!("{m}");
    }

    for b in Builtin::ALL {
        let s = scores[b.name()];
        assert!(s.tp >= 10, "{}: only {} labelled matches", b.name(), s.tp);
        assert!(
            s.precision() >= 0.95,
            "{} precision {:.3}",
            b.name(),
            s.precision()
        );
        assert!(s.recall() >= 0.95, "{} recall {:.3}", b.name(), s.recall());
    }
    for name in ["credit_card", "us_ssn", "email"] {
        assert_eq!(
            scores[name].recall(),
            1.0,
            "{name} must find every labelled match"
        );
    }
    assert!(lines.len() >= 300 && negatives >= 100);
}
