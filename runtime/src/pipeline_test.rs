//! `sluice test`: runs the `[[tests]]` of a pipeline file, as Vector's unit
//! tests do. Each test feeds its `inputs` as lines to one source (the others
//! send nothing), runs the real pipeline with its real plugins, and compares
//! what one sink receives with `outputs`, in order.

use crate::config::{ConfigError, ExpectedEvent, Pipeline, PipelineTest, SinkKind, SourceKind};
use crate::plugin::PluginEngine;
use crate::topology;
use sluice_event::{event_to_json, Event};

/// The outcome of one test.
#[derive(Debug)]
pub struct TestOutcome {
    pub name: String,
    /// Empty when the test passed.
    pub failures: Vec<String>,
}

/// Runs every test of `pipeline`. Building happens outside `runtime` (a
/// plugin's `configure` may use WASI); running inside it.
pub fn run_tests(
    pipeline: &Pipeline,
    engine: &PluginEngine,
    runtime: &tokio::runtime::Runtime,
) -> Result<Vec<TestOutcome>, ConfigError> {
    let mut outcomes = Vec::new();
    for test in &pipeline.tests {
        let (rigged, captured) = rig(pipeline, test);
        let built = topology::build(rigged, engine)?;
        let (_stop, shutdown) = tokio::sync::watch::channel(false);
        let failures = match runtime.block_on(built.run(shutdown, Default::default())) {
            Err(error) => vec![format!("the pipeline failed: {error}")],
            Ok(()) => {
                let got = captured.lock().unwrap_or_else(|e| e.into_inner());
                compare(&test.outputs, &got)
            }
        };
        outcomes.push(TestOutcome {
            name: test.name.clone(),
            failures,
        });
    }
    Ok(outcomes)
}

/// The pipeline with its sources fed from the test and its sinks captured.
fn rig(pipeline: &Pipeline, test: &PipelineTest) -> (Pipeline, crate::config::Captured) {
    let mut rigged = pipeline.clone();
    rigged.tests.clear();
    for source in &mut rigged.sources {
        let lines = if source.name == test.source {
            test.inputs.clone()
        } else {
            Vec::new()
        };
        source.kind = SourceKind::Memory(lines);
    }
    let captured = crate::config::Captured::default();
    for sink in &mut rigged.sinks {
        sink.kind = SinkKind::Capture(if sink.name == test.sink {
            captured.clone()
        } else {
            Default::default()
        });
    }
    (rigged, captured)
}

/// Every way `got` differs from `expected`; empty when they agree.
pub fn compare(expected: &[ExpectedEvent], got: &[Event]) -> Vec<String> {
    let mut failures = Vec::new();
    if expected.len() != got.len() {
        failures.push(format!(
            "expected {} events, got {}",
            expected.len(),
            got.len()
        ));
    }
    for (i, (want, event)) in expected.iter().zip(got).enumerate() {
        let n = i + 1;
        if let Some(message) = &want.message {
            if *message != event.message {
                failures.push(format!(
                    "event {n}: message is {:?}, expected {message:?}",
                    event.message
                ));
            }
        }
        let json = event_to_json(event);
        let fields = &json["fields"];
        for (name, value) in &want.fields {
            match fields.get(name) {
                None => failures.push(format!(
                    "event {n}: field `{name}` is missing, expected {value}"
                )),
                Some(actual) if actual != value => failures.push(format!(
                    "event {n}: field `{name}` is {actual}, expected {value}"
                )),
                Some(_) => {}
            }
        }
        for name in &want.absent {
            if let Some(actual) = fields.get(name) {
                failures.push(format!(
                    "event {n}: field `{name}` should be absent, is {actual}"
                ));
            }
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compare_names_every_difference() {
        let mut event = Event::new("hello");
        event.fields.insert("a", 1);
        event.fields.insert("parse_error", true);
        let want = ExpectedEvent {
            message: Some("bye".into()),
            fields: vec![("a".into(), json!(2)), ("b".into(), json!("x"))],
            absent: vec!["parse_error".into()],
        };
        let failures = compare(&[want.clone(), want], &[event.clone()]);
        assert_eq!(failures.len(), 5, "{failures:#?}");
        assert!(failures[0].contains("expected 2 events, got 1"));
        let ok = ExpectedEvent {
            message: Some("hello".into()),
            fields: vec![("a".into(), json!(1))],
            absent: vec![],
        };
        assert!(compare(&[ok], &[event]).is_empty());
    }
}
