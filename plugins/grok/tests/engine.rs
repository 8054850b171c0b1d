//! The engine finds what fancy-regex finds (same match, same groups) for
//! every pattern of the built-in library, Logstash's legacy and ecs-v1 files
//! and the shipped loghub pipelines, on real lines and on mangled ones.

use std::path::Path;

use sluice_plugin_grok::compile::translate;
use sluice_plugin_grok::engine::{build, Cache, Outcome};
use sluice_plugin_grok::library::{read_pattern_dir, Library};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data");

const SYSTEMS: [&str; 16] = [
    "Android",
    "Apache",
    "BGL",
    "HDFS",
    "HPC",
    "Hadoop",
    "HealthApp",
    "Linux",
    "Mac",
    "OpenSSH",
    "OpenStack",
    "Proxifier",
    "Spark",
    "Thunderbird",
    "Windows",
    "Zookeeper",
];

const SAMPLES: &[&str] = &[
    r#"83.149.9.216 - - [24/Feb/2015:23:13:42 +0000] "GET /presentations/logstash-monitorama-2013/images/kibana-search.png HTTP/1.1" 200 203023 "http://semicomplete.com/presentations/logstash-monitorama-2013/" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1)""#,
    r#"::1 - - [10/Oct/2000:13:55:36 -0700] "-" 408 - "a \"quoted\" referrer" 'x'"#,
    "<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed for lonvick on /dev/pts/8",
    "2015-02-24T23:13:42.123+01:00 user john.doe-1@example.com from fe80::1%eth0:8080",
    "Jun  3 04:08:03 host.example.com kernel[12]: <4.6> something",
    "numbers -12 +7 3.14 .5 1e5 0x1F 0xdead.beef 007 255.255.255.256",
    "müller@exämple.de Grüße 日本語 😀 café [Dez 2015] März Oktober",
    "C:\\Windows\\System32 /var/log/messages /dev/ttyp0 urn:isbn:0451450523",
    "",
    " ",
];

/// Real lines, and each mangled a few ways: cut, a byte replaced, a
/// non-ASCII character or a quote put in.
fn corpus() -> Vec<String> {
    let mut lines: Vec<String> = SAMPLES.iter().map(|s| s.to_string()).collect();
    for system in SYSTEMS {
        let text = std::fs::read_to_string(format!("{SHARED}/loghub/{system}_2k.log")).unwrap();
        lines.extend(text.lines().step_by(500).map(str::to_owned));
    }
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: usize| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize % n.max(1)
    };
    let mut mangled = Vec::new();
    for line in &lines {
        let boundary = |at: usize| (at..=line.len()).find(|&i| line.is_char_boundary(i));
        let cut = boundary(next(line.len() + 1)).unwrap_or(line.len());
        mangled.push(line[..cut].to_owned());
        for insert in ["é", "\"", "€😀", " ", ":", "\n"] {
            let at = boundary(next(line.len() + 1)).unwrap_or(line.len());
            mangled.push(format!("{}{insert}{}", &line[..at], &line[at..]));
        }
        let at = boundary(next(line.len() + 1)).unwrap_or(line.len());
        if let Some(c) = line[at..].chars().next() {
            let b = b"a0 .-:[]/\\_x"[next(12)] as char;
            mangled.push(format!("{}{b}{}", &line[..at], &line[at + c.len_utf8()..]));
        }
    }
    lines.extend(mangled);
    lines
}

/// Every (library, pattern) to compare.
fn patterns() -> Vec<(usize, String)> {
    let mut libs = vec![Library::builtin()];
    let mut patterns: Vec<(usize, String)> = libs[0]
        .names()
        .into_iter()
        .map(|name| (0, format!("%{{{name}}}")))
        .collect();
    for dir in ["legacy", "ecs-v1"] {
        let dir = format!("{SHARED}/grok-patterns/patterns/{dir}");
        let mut lib = Library::builtin();
        lib.load_dir(Path::new(&dir)).unwrap();
        libs.push(lib);
        for (_, defs) in read_pattern_dir(Path::new(&dir)).unwrap() {
            patterns.extend(
                defs.into_iter()
                    .map(|(name, _)| (libs.len() - 1, format!("%{{{name}}}"))),
            );
        }
    }
    for system in SYSTEMS {
        let text =
            std::fs::read_to_string(format!("{ROOT}/pipelines/loghub/{system}.toml")).unwrap();
        // The `config.patterns = [ '...' ]` lines of the parse stage.
        let mut inside = false;
        for line in text.lines() {
            if line.starts_with("config.patterns") {
                inside = true;
            } else if inside && line.starts_with(']') {
                inside = false;
            } else if inside {
                let pattern = line.trim().trim_end_matches(',');
                let pattern = pattern.trim_start_matches('\'').trim_end_matches('\'');
                patterns.push((0, pattern.to_owned()));
            }
        }
    }
    PATTERN_LIBS.with(|l| *l.borrow_mut() = libs);
    patterns
}

thread_local! {
    static PATTERN_LIBS: std::cell::RefCell<Vec<Library>> = const { std::cell::RefCell::new(Vec::new()) };
}

type Groups = Vec<Option<(usize, usize)>>;

#[test]
fn engine_agrees_with_fancy_regex_on_every_library_pattern() {
    let lines = corpus();
    let patterns = patterns();
    assert!(patterns.len() > 700, "{} patterns", patterns.len());
    let mut cache = Cache::default();
    let (mut covered, mut compared, mut diffs) = (0, 0, Vec::new());
    for (lib, pattern) in &patterns {
        let translated = PATTERN_LIBS.with(|l| translate(pattern, &l.borrow()[*lib]));
        let Ok(translated) = translated else { continue };
        let fancy = fancy_regex::Regex::new(&translated.regex).unwrap();
        let Some(program) = build(&translated.regex) else {
            continue;
        };
        covered += 1;
        for line in &lines {
            let theirs: Option<Groups> = match fancy.captures(line) {
                Ok(caps) => caps.map(|c| {
                    (0..c.len())
                        .map(|i| c.get(i).map(|m| (m.start(), m.end())))
                        .collect()
                }),
                // Over fancy-regex's own limit: nothing to compare.
                Err(_) => continue,
            };
            let ours: Option<Groups> = match program.search(line, 1_000_000, &mut cache) {
                Outcome::Match => Some(
                    (0..program.groups())
                        .map(|i| program.group(&cache, i))
                        .collect(),
                ),
                Outcome::NoMatch => None,
                // The matcher would ask fancy-regex.
                Outcome::GaveUp => continue,
            };
            compared += 1;
            if ours != theirs && diffs.len() < 20 {
                diffs.push(format!(
                    "{pattern} on {line:?}:\n  ours   {ours:?}\n  fancy  {theirs:?}"
                ));
            }
        }
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    // Everything in the libraries runs on the engine.
    assert_eq!(covered, patterns.len());
    assert!(compared > 400_000, "{compared} comparisons");
}
