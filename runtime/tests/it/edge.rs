//! The shipped edge agent (`pipelines/edge-agent.toml`) forwarding to the
//! shipped central pipeline (`pipelines/central.toml`), both real `sluice`
//! processes configured only through the environment, as an operator runs
//! them: the link cut for 30 s under load, a full disk buffer, and kill -9
//! of the agent in the middle. Nothing acknowledged may be lost; duplicates
//! (at-least-once) are counted and reported.

use super::{free_port, sluice};
use serde_json::Value as Json;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "edge-test-token";

fn pipeline(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../pipelines/{name}"))
}

/// A `sluice run` process, killed (-9) when dropped.
struct Proc {
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn start(pipeline: &Path, env: &[(&str, String)], log: PathBuf) -> Proc {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = sluice()
            .arg("run")
            .arg(pipeline)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap();
        Proc { child, log }
    }

    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One test's directories and ports.
struct Site {
    dir: tempfile::TempDir,
    forward_port: u16,
    api_port: u16,
}

impl Site {
    fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("logs")).unwrap();
        Site {
            dir,
            forward_port: free_port(),
            api_port: free_port(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn central(&self) -> Proc {
        let env = [
            (
                "SLUICE_DATA_DIR",
                self.path("central").display().to_string(),
            ),
            ("SLUICE_API", format!("127.0.0.1:{}", self.api_port)),
            ("SLUICE_LISTEN", format!("127.0.0.1:{}", self.forward_port)),
            ("SLUICE_TOKENS", format!("old-token,{TOKEN}")),
        ];
        let central = Proc::start(&pipeline("central.toml"), &env, self.path("central.log"));
        let deadline = Instant::now() + Duration::from_secs(60);
        while get(self.api_port, "/health").is_none() {
            assert!(
                Instant::now() < deadline,
                "central never became healthy:\n{}",
                central.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        central
    }

    fn edge(&self, buffer_size: &str) -> Proc {
        let env = [
            ("SLUICE_DATA_DIR", self.path("edge").display().to_string()),
            (
                "SLUICE_LOGS",
                self.path("logs").join("*.log").display().to_string(),
            ),
            (
                "SLUICE_CENTRAL",
                format!("http://127.0.0.1:{}", self.forward_port),
            ),
            ("SLUICE_TOKEN", TOKEN.to_owned()),
            ("SLUICE_BUFFER_SIZE", buffer_size.to_owned()),
        ];
        Proc::start(&pipeline("edge-agent.toml"), &env, self.path("edge.log"))
    }

    /// How many times central stored each `seq`, by its level.
    fn stored(&self) -> HashMap<u64, (String, u32)> {
        let mut seen: HashMap<u64, (String, u32)> = HashMap::new();
        let mut cursor = String::new();
        loop {
            let target = format!(
                "/api/v1/search?index=logs&q=*&from=0&to=now%2B1d&limit=10000&fields=level&cursor={cursor}"
            );
            let Some(body) = get(self.api_port, &target) else {
                return seen; // no index yet
            };
            let hits = body["hits"].as_array().expect("hits");
            for hit in hits {
                let message = hit["message"].as_str().unwrap();
                let seq = seq_of(message).unwrap_or_else(|| panic!("no seq in {message:?}"));
                let level = hit["fields"]["level"].as_str().unwrap_or("").to_owned();
                seen.entry(seq).or_insert((level, 0)).1 += 1;
            }
            match body["next_cursor"].as_str() {
                Some(next) if !hits.is_empty() => cursor = next.to_owned(),
                _ => return seen,
            }
        }
    }

    /// Waits until central stored every seq `expected` accepts from
    /// `0..written`; returns what it stored.
    fn wait_stored(
        &self,
        written: u64,
        expected: impl Fn(u64) -> bool,
        procs: &[&Proc],
    ) -> HashMap<u64, (String, u32)> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let stored = self.stored();
            let missing = (0..written)
                .filter(|&s| expected(s) && !stored.contains_key(&s))
                .count();
            if missing == 0 {
                return stored;
            }
            if Instant::now() > deadline {
                let logs: Vec<String> = procs.iter().map(|p| p.log()).collect();
                panic!(
                    "{missing} events never reached central; logs:\n{}",
                    logs.join("\n---\n")
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

/// A `GET`'s JSON answer; `None` when the server is not up or answers 404.
fn get(port: u16, target: &str) -> Option<Json> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    if head.starts_with("HTTP/1.1 404") {
        return None;
    }
    assert!(head.starts_with("HTTP/1.1 200"), "{target}: {response}");
    Some(serde_json::from_str(body).unwrap_or(Json::Null))
}

fn seq_of(message: &str) -> Option<u64> {
    message
        .split_whitespace()
        .find_map(|w| w.strip_prefix("seq=")?.parse().ok())
}

/// The level of line `seq`: every 10th WARN, every 25th ERROR, the rest
/// alternate INFO and DEBUG.
fn level_of(seq: u64) -> &'static str {
    match seq {
        s if s % 25 == 0 => "ERROR",
        s if s % 10 == 0 => "WARN",
        s if s % 2 == 0 => "INFO",
        _ => "DEBUG",
    }
}

/// Log lines `seqs` as the application writes them, each with 200 bytes of
/// noise that LZ4 cannot shrink (so a disk buffer fills as it would).
fn lines(seqs: std::ops::Range<u64>) -> String {
    let mut text = String::new();
    let mut x = seqs.start.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for seq in seqs {
        let mut noise = String::with_capacity(200);
        for _ in 0..25 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            noise.push_str(&format!("{:08x}", x as u32));
        }
        text.push_str(&format!(
            "2026-11-22T06:04:41Z {} seq={seq} user=u{} {noise}\n",
            level_of(seq),
            seq % 97
        ));
    }
    text
}

fn append(path: &Path, text: &str) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

fn duplicates(stored: &HashMap<u64, (String, u32)>) -> u32 {
    stored.values().map(|(_, n)| n - 1).sum()
}

/// The checkpointed offset of the edge's file source, if any.
fn checkpoint(site: &Site) -> u64 {
    let text = std::fs::read_to_string(site.path("edge/checkpoints/app.json")).unwrap_or_default();
    text.split("\"offset\":")
        .nth(1)
        .and_then(|rest| {
            let digits: String = rest
                .trim_start()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .unwrap_or(0)
}

#[test]
fn cutting_the_link_for_30_s_under_load_loses_nothing() {
    let site = Site::new();
    let log = site.path("logs/app.log");
    let central = site.central();
    let edge = site.edge("256MiB");
    // The application writes 400 lines/s throughout.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (stop, log) = (stop.clone(), log.clone());
        std::thread::spawn(move || {
            let mut seq = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                append(&log, &lines(seq..seq + 40));
                seq += 40;
                std::thread::sleep(Duration::from_millis(100));
            }
            seq
        })
    };
    std::thread::sleep(Duration::from_secs(5));
    let before_cut = site.stored().len();
    assert!(
        before_cut > 0,
        "nothing arrived before the cut:\n{}\n{}",
        edge.log(),
        central.log()
    );
    central.kill();
    std::thread::sleep(Duration::from_secs(30));
    let central = site.central();
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.join().unwrap();
    let stored = site.wait_stored(written, |_| true, &[&edge, &central]);
    assert_eq!(stored.len() as u64, written, "only the lines written");
    for (seq, (level, _)) in &stored {
        assert_eq!(level, level_of(*seq), "seq {seq} kept its level");
    }
    assert!(
        edge.log().contains("retrying"),
        "the edge saw the cut:\n{}",
        edge.log()
    );
    eprintln!(
        "link cut 30 s: {written} lines written, {before_cut} stored before the cut, all stored; {} duplicates",
        duplicates(&stored)
    );
}

#[test]
fn a_full_disk_buffer_drops_debug_then_info_and_keeps_warn_and_above() {
    let site = Site::new();
    let log = site.path("logs/app.log");
    // ~2.6 MB of lines against a 1 MiB buffer, with central down.
    let written = 10_000;
    append(&log, &lines(0..written));
    let edge = site.edge("1MiB");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !edge.log().contains("disk buffer full") {
        assert!(
            Instant::now() < deadline,
            "the buffer never filled:\n{}",
            edge.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let central = site.central();
    let warn_and_above = |seq: u64| matches!(level_of(seq), "WARN" | "ERROR");
    // Every WARN and ERROR line arriving means the source read to the end.
    let stored = site.wait_stored(written, warn_and_above, &[&edge, &central]);
    let count = |level: &str| stored.values().filter(|(l, _)| l == level).count();
    let sent = |level: &str| (0..written).filter(|&s| level_of(s) == level).count();
    assert_eq!(count("WARN"), sent("WARN"));
    assert_eq!(count("ERROR"), sent("ERROR"));
    assert!(count("DEBUG") < sent("DEBUG"), "DEBUG was dropped first");
    eprintln!(
        "full 1 MiB buffer: kept WARN {}/{}, ERROR {}/{}, INFO {}/{}, DEBUG {}/{}",
        count("WARN"),
        sent("WARN"),
        count("ERROR"),
        sent("ERROR"),
        count("INFO"),
        sent("INFO"),
        count("DEBUG"),
        sent("DEBUG")
    );
}

#[test]
fn kill_9_of_the_agent_resumes_from_its_buffer_and_checkpoint() {
    let site = Site::new();
    let log = site.path("logs/app.log");
    let written = 20_000;
    append(&log, &lines(0..written));
    // Central is down: the agent reads into its disk buffer and
    // checkpoints what the buffer holds. Kill it partway.
    let edge = site.edge("256MiB");
    let deadline = Instant::now() + Duration::from_secs(60);
    while checkpoint(&site) == 0 {
        assert!(Instant::now() < deadline, "no checkpoint:\n{}", edge.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    let at_first_kill = checkpoint(&site);
    edge.kill();
    // Central comes up; the agent starts again and is killed while it
    // forwards.
    let central = site.central();
    let edge = site.edge("256MiB");
    let deadline = Instant::now() + Duration::from_secs(60);
    while site.stored().is_empty() {
        assert!(
            Instant::now() < deadline,
            "nothing forwarded:\n{}",
            edge.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    edge.kill();
    let edge = site.edge("256MiB");
    let stored = site.wait_stored(written, |_| true, &[&edge, &central]);
    assert_eq!(stored.len() as u64, written);
    eprintln!(
        "kill -9 of the agent twice (first at checkpoint {at_first_kill} of {} bytes): all {written} lines stored; {} duplicates",
        std::fs::metadata(&log).unwrap().len(),
        duplicates(&stored)
    );
}
