//! Per-stage metrics and their Prometheus text form, served at `/metrics`
//! by the optional `[api]` listener.
//!
//! Stages update atomics on their hot path; rendering reads them. Nothing
//! here blocks a stage.

use crate::plugin::bindings::PluginMetrics;
use crate::plugin::transform::{CircuitState, FailureKind};
use sluice_io::StageCounters;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Upper bounds of the batch latency histogram, in seconds.
const LATENCY_BOUNDS: [f64; 12] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

const FAILURE_KINDS: [FailureKind; 5] = [
    FailureKind::Trap,
    FailureKind::Deadline,
    FailureKind::OutOfMemory,
    FailureKind::PluginError,
    FailureKind::CircuitOpen,
];

/// A cumulative histogram of batch latencies.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BOUNDS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if let Some(at) = LATENCY_BOUNDS.iter().position(|&bound| seconds <= bound) {
            self.buckets[at].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_nanos
            .fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
    }
}

/// Everything measured about one stage.
#[derive(Debug)]
pub struct StageMetrics {
    pub pipeline: String,
    pub stage: String,
    /// `source`, `transform` or `sink`.
    pub kind: &'static str,
    pub counters: Arc<StageCounters>,
    /// Time per plugin call (transforms only).
    pub batch_latency: Histogram,
    /// Time a transform stopped for while a reload swapped its plugin.
    pub reload_pause: Histogram,
    /// Failed plugin calls, by `FAILURE_KINDS` order.
    failures: [AtomicU64; FAILURE_KINDS.len()],
    /// 0 closed, 1 open, 2 half-open.
    circuit: AtomicU8,
    /// Counters and gauges the plugin reports through the host interface.
    pub plugin: Option<Arc<PluginMetrics>>,
}

impl StageMetrics {
    pub fn record_failure(&self, kind: FailureKind) {
        if let Some(at) = FAILURE_KINDS.iter().position(|&k| k == kind) {
            self.failures[at].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn set_circuit(&self, state: CircuitState) {
        let value = match state {
            CircuitState::Closed => 0,
            CircuitState::Open => 1,
            CircuitState::HalfOpen => 2,
        };
        self.circuit.store(value, Ordering::Relaxed);
    }
}

/// All stages of all pipelines of this process.
#[derive(Debug, Default)]
pub struct Registry {
    stages: Mutex<Vec<Arc<StageMetrics>>>,
}

impl Registry {
    /// Forgets the stages of a pipeline that stopped (it is restarting with
    /// a new topology, which registers its own).
    pub fn remove_pipeline(&self, pipeline: &str) {
        self.stages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|s| s.pipeline != pipeline);
    }

    /// Registers a stage; `plugin` is set for transforms.
    pub fn stage(
        &self,
        pipeline: &str,
        stage: &str,
        kind: &'static str,
        plugin: Option<Arc<PluginMetrics>>,
    ) -> Arc<StageMetrics> {
        let metrics = Arc::new(StageMetrics {
            pipeline: pipeline.to_owned(),
            stage: stage.to_owned(),
            kind,
            counters: Arc::default(),
            batch_latency: Histogram::default(),
            reload_pause: Histogram::default(),
            failures: Default::default(),
            circuit: AtomicU8::new(0),
            plugin,
        });
        self.stages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(metrics.clone());
        metrics
    }

    /// The Prometheus text exposition of every stage.
    pub fn render(&self) -> String {
        let stages = self
            .stages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut out = String::new();
        let labels = |s: &StageMetrics| {
            format!(
                "pipeline=\"{}\",stage=\"{}\",kind=\"{}\"",
                escape(&s.pipeline),
                escape(&s.stage),
                s.kind
            )
        };
        type Field = fn(&StageCounters) -> &AtomicU64;
        let counters: [(&str, &str, Field); 4] = [
            ("sluice_events_in_total", "Events a stage received.", |c| {
                &c.events_in
            }),
            (
                "sluice_events_out_total",
                "Events a stage sent on or wrote.",
                |c| &c.events_out,
            ),
            (
                "sluice_events_errors_total",
                "Events that failed in a stage (they leave through `errors`).",
                |c| &c.errors,
            ),
            (
                "sluice_events_dropped_total",
                "Events a stage could not deliver anywhere.",
                |c| &c.dropped,
            ),
        ];
        for (name, help, field) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for s in &stages {
                let _ = writeln!(
                    out,
                    "{name}{{{}}} {}",
                    labels(s),
                    field(&s.counters).load(Ordering::Relaxed)
                );
            }
        }

        let _ = writeln!(out, "# HELP sluice_buffer_bytes Bytes held in a stage's buffer.\n# TYPE sluice_buffer_bytes gauge");
        for s in &stages {
            let _ = writeln!(
                out,
                "sluice_buffer_bytes{{{}}} {}",
                labels(s),
                s.counters.buffer_bytes.load(Ordering::Relaxed)
            );
        }

        let transforms: Vec<&Arc<StageMetrics>> =
            stages.iter().filter(|s| s.kind == "transform").collect();
        for (name, help, histogram) in [
            (
                "sluice_batch_duration_seconds",
                "Time a plugin took per batch.",
                (|s: &StageMetrics| &s.batch_latency) as fn(&StageMetrics) -> &Histogram,
            ),
            (
                "sluice_reload_pause_seconds",
                "Time a stage paused while a reload swapped its plugin.",
                |s: &StageMetrics| &s.reload_pause,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
            for s in &transforms {
                let h = histogram(s);
                let mut cumulative = 0;
                for (bound, bucket) in LATENCY_BOUNDS.iter().zip(&h.buckets) {
                    cumulative += bucket.load(Ordering::Relaxed);
                    let _ = writeln!(
                        out,
                        "{name}_bucket{{{},le=\"{bound}\"}} {cumulative}",
                        labels(s)
                    );
                }
                let count = h.count.load(Ordering::Relaxed);
                let sum = h.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
                let _ = writeln!(out, "{name}_bucket{{{},le=\"+Inf\"}} {count}", labels(s));
                let _ = writeln!(out, "{name}_sum{{{}}} {sum}", labels(s));
                let _ = writeln!(out, "{name}_count{{{}}} {count}", labels(s));
            }
        }

        let name = "sluice_plugin_failures_total";
        let _ = writeln!(out, "# HELP {name} Failed plugin calls by reason (trap, deadline, out_of_memory, plugin_error, circuit_open).\n# TYPE {name} counter");
        for s in &transforms {
            for (kind, count) in FAILURE_KINDS.iter().zip(&s.failures) {
                let _ = writeln!(
                    out,
                    "{name}{{{},reason=\"{}\"}} {}",
                    labels(s),
                    kind.as_str(),
                    count.load(Ordering::Relaxed)
                );
            }
        }
        let name = "sluice_circuit_state";
        let _ = writeln!(out, "# HELP {name} A plugin's circuit breaker: 0 closed, 1 open, 2 half-open.\n# TYPE {name} gauge");
        for s in &transforms {
            let _ = writeln!(
                out,
                "{name}{{{}}} {}",
                labels(s),
                s.circuit.load(Ordering::Relaxed)
            );
        }

        let _ = writeln!(out, "# HELP sluice_plugin_counter_total Counters a plugin reports through the host.\n# TYPE sluice_plugin_counter_total counter");
        for s in &transforms {
            let Some(plugin) = &s.plugin else { continue };
            let counters = plugin.counters.lock().unwrap_or_else(|e| e.into_inner());
            let mut sorted: Vec<_> = counters.iter().collect();
            sorted.sort();
            for (counter, value) in sorted {
                let _ = writeln!(
                    out,
                    "sluice_plugin_counter_total{{{},name=\"{}\"}} {value}",
                    labels(s),
                    escape(counter)
                );
            }
        }
        let _ = writeln!(out, "# HELP sluice_plugin_gauge Gauges a plugin reports through the host.\n# TYPE sluice_plugin_gauge gauge");
        for s in &transforms {
            let Some(plugin) = &s.plugin else { continue };
            let gauges = plugin.gauges.lock().unwrap_or_else(|e| e.into_inner());
            let mut sorted: Vec<_> = gauges.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(b.0));
            for (gauge, value) in sorted {
                let _ = writeln!(
                    out,
                    "sluice_plugin_gauge{{{},name=\"{}\"}} {value}",
                    labels(s),
                    escape(gauge)
                );
            }
        }
        out
    }
}

/// Escapes a label value (backslash, quote, newline).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_failures_and_circuit_state() {
        let registry = Registry::default();
        let source = registry.stage("p", "in", "source", None);
        StageCounters::add(&source.counters.events_out, 7);
        let plugin = Arc::new(PluginMetrics::default());
        plugin
            .counters
            .lock()
            .unwrap()
            .insert("pii.email".into(), 3);
        let t = registry.stage("p", "parse", "transform", Some(plugin));
        t.batch_latency.observe(Duration::from_micros(300));
        t.batch_latency.observe(Duration::from_secs(10));
        t.record_failure(FailureKind::Deadline);
        t.set_circuit(CircuitState::Open);
        let text = registry.render();
        assert!(
            text.contains(r#"sluice_events_out_total{pipeline="p",stage="in",kind="source"} 7"#),
            "{text}"
        );
        assert!(text.contains(r#"sluice_batch_duration_seconds_bucket{pipeline="p",stage="parse",kind="transform",le="0.0005"} 1"#), "{text}");
        assert!(text.contains(r#"sluice_batch_duration_seconds_bucket{pipeline="p",stage="parse",kind="transform",le="+Inf"} 2"#), "{text}");
        assert!(text.contains(r#"sluice_plugin_failures_total{pipeline="p",stage="parse",kind="transform",reason="deadline"} 1"#), "{text}");
        assert!(
            text.contains(r#"sluice_circuit_state{pipeline="p",stage="parse",kind="transform"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"sluice_plugin_counter_total{pipeline="p",stage="parse",kind="transform",name="pii.email"} 3"#), "{text}");
        // Every sample line is `name{labels} value`.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
}
