//! Wiring checks: every input exists, names are unique, there are no cycles.
//! Also puts the transforms in dependency order.

use super::{ConfigError, Pipeline};
use std::collections::{HashMap, HashSet};

pub(super) fn validate(pipeline: &mut Pipeline) -> Result<(), ConfigError> {
    // One namespace for all stages.
    let mut kinds: HashMap<&str, &str> = HashMap::new();
    let names = pipeline
        .sources
        .iter()
        .map(|s| (s.name.as_str(), "sources"))
        .chain(
            pipeline
                .transforms
                .iter()
                .map(|t| (t.name.as_str(), "transforms")),
        )
        .chain(pipeline.sinks.iter().map(|s| (s.name.as_str(), "sinks")));
    for (name, kind) in names {
        if let Some(first) = kinds.insert(name, kind) {
            return Err(ConfigError {
                location: None,
                key: Some(format!("{kind}.{name}")),
                message: format!("the name `{name}` is already used by [{first}.{name}]; stage names must be unique"),
            });
        }
    }

    let readers = pipeline
        .transforms
        .iter()
        .map(|t| ("transforms", &t.name, &t.inputs))
        .chain(pipeline.sinks.iter().map(|s| ("sinks", &s.name, &s.inputs)));
    for (kind, name, inputs) in readers {
        for input in inputs {
            let target = &input.input.stage;
            match kinds.get(target.as_str()) {
                None => {
                    let mut known: Vec<&str> = kinds
                        .iter()
                        .filter(|(_, k)| **k != "sinks")
                        .map(|(n, _)| *n)
                        .collect();
                    known.sort_unstable();
                    return Err(ConfigError {
                        location: Some(input.location.clone()),
                        key: Some(format!("{kind}.{name}.inputs")),
                        message: format!(
                            "unknown input `{}`; stages that can be inputs: {}",
                            input.input,
                            known.join(", ")
                        ),
                    });
                }
                Some(&"sinks") => {
                    return Err(ConfigError {
                        location: Some(input.location.clone()),
                        key: Some(format!("{kind}.{name}.inputs")),
                        message: format!("`{target}` is a sink; a sink has no outputs to read"),
                    });
                }
                Some(&"sources") if input.input.output.is_some() => {
                    return Err(ConfigError {
                        location: Some(input.location.clone()),
                        key: Some(format!("{kind}.{name}.inputs")),
                        message: format!(
                            "source `{target}` has only its main output; write `{target}`"
                        ),
                    });
                }
                Some(_) => {}
            }
        }
    }

    order_transforms(pipeline)?;

    for source in &pipeline.sources {
        let main = super::InputRef {
            stage: source.name.clone(),
            output: None,
        };
        if pipeline.consumers(&main).is_empty() {
            return Err(ConfigError {
                location: None,
                key: Some(format!("sources.{}", source.name)),
                message: "this source is not an input of any transform or sink".into(),
            });
        }
    }
    if pipeline.sources.is_empty() {
        return Err(ConfigError {
            location: Some(super::Location {
                file: pipeline.file.clone(),
                line: 1,
                column: 1,
            }),
            key: Some("sources".into()),
            message: "a pipeline needs at least one [sources.NAME]".into(),
        });
    }
    Ok(())
}

/// Sorts transforms so each comes after the transforms it reads (Kahn's
/// algorithm); whatever cannot be ordered is on a cycle, which is reported.
fn order_transforms(pipeline: &mut Pipeline) -> Result<(), ConfigError> {
    let transform_names: HashSet<String> =
        pipeline.transforms.iter().map(|t| t.name.clone()).collect();
    let mut remaining = std::mem::take(&mut pipeline.transforms);
    let mut placed: HashSet<String> = HashSet::new();
    while !remaining.is_empty() {
        let before = remaining.len();
        let mut next = Vec::new();
        for t in remaining {
            let ready = t.inputs.iter().all(|i| {
                !transform_names.contains(&i.input.stage) || placed.contains(&i.input.stage)
            });
            if ready {
                placed.insert(t.name.clone());
                pipeline.transforms.push(t);
            } else {
                next.push(t);
            }
        }
        remaining = next;
        if remaining.len() == before {
            let cycle = find_cycle(&remaining);
            let first = remaining
                .iter()
                .find(|t| t.name == cycle[0])
                .unwrap_or(&remaining[0]);
            return Err(ConfigError {
                location: first.inputs.first().map(|i| i.location.clone()),
                key: Some(format!("transforms.{}.inputs", first.name)),
                message: format!("the inputs form a cycle: {}", cycle.join(" -> ")),
            });
        }
    }
    Ok(())
}

/// A cycle among `stuck` transforms, as stage names with the first repeated last.
fn find_cycle(stuck: &[super::TransformStage]) -> Vec<String> {
    let by_name: HashMap<&str, &super::TransformStage> =
        stuck.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut path: Vec<String> = vec![stuck[0].name.clone()];
    loop {
        let current = by_name[path.last().map(String::as_str).unwrap_or_default()];
        let Some(next) = current
            .inputs
            .iter()
            .find(|i| by_name.contains_key(i.input.stage.as_str()))
        else {
            return path;
        };
        if let Some(at) = path.iter().position(|n| *n == next.input.stage) {
            let mut cycle = path[at..].to_vec();
            cycle.push(next.input.stage.clone());
            // Report in data-flow order.
            cycle.reverse();
            return cycle;
        }
        path.push(next.input.stage.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse;
    use std::path::Path;

    fn check(text: &str) -> Result<super::Pipeline, super::ConfigError> {
        parse(Path::new("p.toml"), text, None)
    }

    const SRC: &str = "[sources.in]\ntype = \"stdin\"\n";

    #[test]
    fn unknown_input_is_placed_at_the_input() {
        let e = check(&format!(
            "{SRC}[sinks.o]\ninputs = [\"in\", \"nope\"]\ntype = \"blackhole\"\n"
        ))
        .unwrap_err();
        assert_eq!(e.location.as_ref().unwrap().line, 4);
        assert!(e.message.contains("nope"), "{e}");
    }

    #[test]
    fn cycles_are_reported_with_their_path() {
        let text = format!(
            "{SRC}[transforms.a]\ninputs = [\"in\", \"c\"]\nplugin = \"builtin:json\"\n\
             [transforms.b]\ninputs = [\"a\"]\nplugin = \"builtin:json\"\n\
             [transforms.c]\ninputs = [\"b.errors\"]\nplugin = \"builtin:json\"\n\
             [sinks.o]\ninputs = [\"c\"]\ntype = \"blackhole\"\n"
        );
        let e = check(&text).unwrap_err();
        assert!(e.message.contains("cycle"), "{e}");
        for stage in ["a", "b", "c"] {
            assert!(e.message.contains(stage), "{e}");
        }
    }

    #[test]
    fn transforms_are_ordered_by_dependency() {
        let text = format!(
            "{SRC}[transforms.late]\ninputs = [\"early\"]\nplugin = \"builtin:json\"\n\
             [transforms.early]\ninputs = [\"in\"]\nplugin = \"builtin:json\"\n\
             [sinks.o]\ninputs = [\"late\", \"early.errors\"]\ntype = \"blackhole\"\n"
        );
        let p = check(&text).unwrap();
        let names: Vec<_> = p.transforms.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["early", "late"]);
    }

    #[test]
    fn unconsumed_source_and_duplicate_names_are_errors() {
        assert!(check(SRC).unwrap_err().message.contains("not an input"));
        let e = check(&format!(
            "{SRC}[sinks.in]\ninputs = [\"in\"]\ntype = \"blackhole\"\n"
        ))
        .unwrap_err();
        assert!(e.message.contains("unique"), "{e}");
    }
}
