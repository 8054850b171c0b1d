//! Logstash's own pattern files (legacy and ecs-v1) load unchanged through
//! `patterns_dir`, and every name they define compiles.

use std::path::Path;

use serde_json::json;
use sluice_plugin_grok::library::{read_pattern_dir, Library};
use sluice_plugin_grok::matcher::{Matcher, DEFAULT_BACKTRACK_LIMIT};
use sluice_plugin_grok::Grok;
use sluice_sdk::testing;

const LEGACY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/grok-patterns/patterns/legacy"
);
const ECS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/grok-patterns/patterns/ecs-v1"
);

/// Compiles `%{NAME}` for every name defined in `dir`; returns the failures.
fn failures(dir: &str) -> (usize, Vec<String>) {
    let mut lib = Library::builtin();
    lib.load_dir(Path::new(dir)).expect("directory loads");
    let mut names = Vec::new();
    for (_, defs) in read_pattern_dir(Path::new(dir)).unwrap() {
        names.extend(defs.into_iter().map(|(name, _)| name));
    }
    let mut failed = Vec::new();
    for name in &names {
        let pattern = vec![format!("%{{{name}}}")];
        if let Err(e) = Matcher::new(&pattern, &lib, DEFAULT_BACKTRACK_LIMIT) {
            failed.push(format!("{name}: {}", e.message));
        }
    }
    (names.len(), failed)
}

#[test]
fn every_legacy_pattern_compiles() {
    let (count, failed) = failures(LEGACY);
    assert!(count > 300, "only {count} names");
    assert!(
        failed.is_empty(),
        "{} of {count} failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

#[test]
fn every_ecs_v1_pattern_compiles() {
    let (count, failed) = failures(ECS);
    assert!(count > 300, "only {count} names");
    assert!(
        failed.is_empty(),
        "{} of {count} failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

const LOGHUB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/loghub");

/// Hand-written lines that exercise the core patterns.
const SAMPLES: &[&str] = &[
    "user john.doe-1 logged in from 192.168.0.1:8080 at 2015-02-24T23:13:42.123+01:00",
    "mail from Jane.Doe+tag@mail.example.com to root@localhost",
    "ip6 2001:db8::1 and fe80::1%eth0 and ::ffff:10.0.0.1 and ::1 and 1:2:3:4:5:6:7:8",
    "mac 00:1a:2b:3c:4d:5e, 00-1A-2B-3C-4D-5E and 001a.2b3c.4d5e",
    "uuid 123e4567-e89b-12d3-a456-426614174000 urn:isbn:0451450523",
    "numbers -12 +7 3.14 .5 1e5 0x1F 0xdead.beef 007",
    "paths /var/log/messages C:\\Windows\\System32 /dev/pts/3 /home/me/file.txt",
    "GET http://user:pw@example.com:8080/a/b.html?x=1&y=[2] HTTP/1.1",
    "https://example.org/search?q=grok rocks",
    "dates 12/31/2015 31.12.2015 2015-12-31 12:34:56 31-12-2015 23:59:60",
    "Mon Mar 7 10:00:00 2016 Tuesday, 8 September 2015 11:12:13 +0200 März Januar Dez Okt",
    "Sun Dec 04 04:47:44 EST 2005 and Mon, 01 Jan 2001 00:00:00 Z",
    "20151231235959 and 24/Feb/2015:23:13:42 +0000",
    "Jun  3 04:08:03 host.example.com kernel[12]: <4.6> something",
    "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 [exampleSDID@32473 iut=\"3\"] BOM'su root' failed",
    "level=WARNING err Error CRIT critical info INFORMATION debug Trace notice emergency",
    "he said \"hello \\\"world\\\"\" and 'it''s' and `cmd`",
    "    at com.example.Foo$Bar.baz(Foo.java:42)",
    "\tat org.apache.catalina.core.StandardWrapper.<init>(Native Method)",
    "Jan 9, 2014 7:13:13 AM org.apache.catalina.startup.Catalina start INFO: done",
    "2014-01-09 20:03:28,269 -0800 | ERROR | com.example.Service - something unexpected",
    "83.149.9.216 - - [24/Feb/2015:23:13:42 +0000] \"GET /presentations/logstash-monitorama-2013/images/kibana-search.png HTTP/1.1\" 200 203023 \"http://semicomplete.com/presentations/logstash-monitorama-2013/\" \"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1)\"",
    "10.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /apache_pb.gif HTTP/1.0\" 200 2326",
    "::1 - - [10/Oct/2000:13:55:36 -0700] \"-\" 408 -",
    "[Wed Oct 11 14:32:52 2000] [error] [client 127.0.0.1] client denied by server configuration: /export/home/live/ap/htdocs/test",
    "[Thu Jun 27 11:55:44.569531 2013] [core:info] [pid 4101:tid 2992634688] [client 1.2.3.4:46652] AH00128: File does not exist: /usr/local/apache2/htdocs/default/favicon.ico",
    "Jun 14 15:16:01 combo CRON[123]: (root) CMD (run-parts /etc/cron.hourly)",
    "Jun 14 15:16:01 combo sshd[123]: pam_unix(sshd:session): session opened for user root by (uid=0)",
    "tty /dev/ttyp0 and /dev/tty1",
    "months Jan January Januar Feb February Februar Mar March Mär März Mrz Apr April May Mai \
     Jun June Juni Jul July Juli Aug August Sep September Oct October Okt Oktober Nov November \
     Dec December Dez Dezember jan dec",
];

/// For each of `names` defined both here and in Logstash's files in `dir`,
/// compare what `%{NAME:whole}` captures with each library over `lines`.
/// Returns "NAME: line" and both results for every difference.
fn differences(lines: &[String], dir: &str, names: &dyn Fn(&str) -> bool) -> Vec<String> {
    let ours = Library::builtin();
    let mut theirs = Library::empty();
    theirs.load_dir(Path::new(dir)).unwrap();
    let mut diffs = Vec::new();
    for name in ours.names() {
        if theirs.get(name).is_none() || !names(name) {
            continue;
        }
        let pattern = vec![format!("%{{{name}:whole}}")];
        let a = Matcher::new(&pattern, &ours, DEFAULT_BACKTRACK_LIMIT).unwrap();
        let b = Matcher::new(&pattern, &theirs, DEFAULT_BACKTRACK_LIMIT).unwrap();
        for line in lines {
            let (mut fa, mut fb) = (Vec::new(), Vec::new());
            let ra = a.match_into(line, &mut fa).map(|m| m.map(|_| ()));
            let rb = b.match_into(line, &mut fb).map(|m| m.map(|_| ()));
            let named = |m: &Matcher, f: Vec<(usize, sluice_sdk::Value)>| {
                let mut v: Vec<_> = f
                    .into_iter()
                    .map(|(id, v)| (m.field(id).to_owned(), v))
                    .collect();
                v.sort_by(|x, y| x.0.cmp(&y.0));
                v
            };
            let (fa, fb) = (named(&a, fa), named(&b, fb));
            if ra != rb || fa != fb {
                diffs.push(format!(
                    "{name}: {line:?}\n    ours:     {ra:?} {fa:?}\n    logstash: {rb:?} {fb:?}"
                ));
            }
        }
    }
    diffs
}

fn corpus() -> Vec<String> {
    let mut lines: Vec<String> = SAMPLES.iter().map(|s| s.to_string()).collect();
    for system in [
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
    ] {
        let text = std::fs::read_to_string(format!("{LOGHUB}/{system}_2k.log")).unwrap();
        lines.extend(text.lines().step_by(50).map(str::to_owned));
    }
    lines
}

/// Where the built-in library follows Logstash's ECS definition instead of
/// the legacy one (legacy's e-mail local part must start with a letter and
/// has a stray `+-=` range).
const FROM_ECS: &[&str] = &["EMAILLOCALPART", "EMAILADDRESS"];

#[test]
fn builtin_library_matches_like_logstash_legacy() {
    let lines = corpus();
    let diffs = differences(&lines, LEGACY, &|name| !FROM_ECS.contains(&name));
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

#[test]
fn builtin_email_matches_like_logstash_ecs() {
    let lines = corpus();
    let diffs = differences(&lines, ECS, &|name| FROM_ECS.contains(&name));
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

#[test]
fn logstash_files_through_the_patterns_dir_key() {
    let line = r#"83.149.9.216 - - [24/Feb/2015:23:13:42 +0000] "GET /presentations/logstash-monitorama-2013/images/kibana-search.png HTTP/1.1" 200 203023 "http://semicomplete.com/presentations/logstash-monitorama-2013/" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1)""#;
    use sluice_sdk::Value;
    let get = |dir: &str| {
        let config = json!({"patterns": ["%{COMBINEDAPACHELOG}"], "patterns_dir": dir});
        let mut g = testing::configure::<Grok>(config).unwrap();
        let mut out = testing::process_lines(&mut g, &[line]).unwrap();
        let e = out.pop().unwrap();
        assert_eq!(e.error, None);
        e.event.fields
    };
    let legacy = get(LEGACY);
    assert_eq!(legacy.get("clientip"), Some(&Value::from("83.149.9.216")));
    assert_eq!(legacy.get("response"), Some(&Value::from("200")));
    let ecs = get(ECS);
    let expect = [
        ("source.address", Value::from("83.149.9.216")),
        ("timestamp", Value::from("24/Feb/2015:23:13:42 +0000")),
        ("http.request.method", Value::from("GET")),
        (
            "url.original",
            Value::from("/presentations/logstash-monitorama-2013/images/kibana-search.png"),
        ),
        ("http.version", Value::from("1.1")),
        ("http.response.status_code", Value::Int(200)),
        ("http.response.body.bytes", Value::Int(203023)),
        (
            "http.request.referrer",
            Value::from("http://semicomplete.com/presentations/logstash-monitorama-2013/"),
        ),
        (
            "user_agent.original",
            Value::from("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1)"),
        ),
    ];
    let got: Vec<(&str, &Value)> = ecs.iter().collect();
    let want: Vec<(&str, &Value)> = expect.iter().map(|(k, v)| (*k, v)).collect();
    assert_eq!(got, want);
}
