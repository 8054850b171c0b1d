//! `builtin:route`: sends each event to every named output whose query it
//! matches, as Vector's `route` transform does.
//!
//! `routes` is a table of route name → query in the search syntax of
//! `sluice-query` (Lucene/KQL style, DESIGN §7), e.g.
//! `routes.errors_5xx = "http.response.status_code:>=500"`. A route is read
//! as the output `<stage>.<name>`. An event goes to every route it matches
//! (one copy each), or with `first_match_only = true` to the first one in
//! the order written; an event matching none stays on the main output
//! (Vector's `_unmatched`). Events pass through unchanged and undecoded
//! (the zero-copy row path).
//!
//! The route names come from the config, which `describe()` cannot see, so
//! the plugin declares the output `*` (any name) besides `errors`. Names are
//! `[A-Za-z0-9_-]+`; `errors` is taken by failed events.
//!
//! Not for: dropping events (`builtin:filter`), or changing them.

use sluice_query::Query;
use sluice_sdk::{
    transform, Batch, Config, ConfigError, Event, Output, PluginError, PluginInfo, Transform,
};

pub struct Route {
    /// In the order written.
    routes: Vec<(String, Query)>,
    first_match_only: bool,
}

impl Transform for Route {
    fn describe() -> PluginInfo {
        PluginInfo::transform("route", env!("CARGO_PKG_VERSION"))
            .description(
                "sends each event to every output whose query it matches (outputs are named by \
                 `routes`); events matching none stay on the main output",
            )
            .required_key(
                "routes",
                "table",
                "route name → query, e.g. { errors_5xx = \"http.response.status_code:>=500\" }; \
                 read a route as `<stage>.<name>`",
            )
            .key(
                "first_match_only",
                "boolean",
                "send an event only to the first matching route, in the order written (default false)",
            )
            .output("*")
    }

    fn configure(config: Config) -> Result<Self, ConfigError> {
        let table = config
            .string_map("routes")?
            .ok_or_else(|| ConfigError::new("routes", "missing required key"))?;
        if table.is_empty() {
            return Err(ConfigError::new("routes", "needs at least one route"));
        }
        let mut routes = Vec::with_capacity(table.len());
        for (name, condition) in table {
            let key = format!("routes.{name}");
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(ConfigError::new(
                    &key,
                    format!("route name `{name}` may only use letters, digits, `_` and `-`"),
                ));
            }
            if name == "errors" {
                return Err(ConfigError::new(
                    &key,
                    "`errors` is the output for failed events; choose another route name",
                ));
            }
            let query = Query::parse(&condition)
                .map_err(|e| ConfigError::new(&key, format!("invalid query: {e}")))?;
            routes.push((name, query));
        }
        Ok(Route {
            routes,
            first_match_only: config.bool("first_match_only")?.unwrap_or(false),
        })
    }

    fn process(&mut self, batch: Vec<Event>, out: &mut Output) -> Result<(), PluginError> {
        let mut names = Vec::new();
        for event in batch {
            names.clear();
            self.for_each_match(&event, |name| names.push(name));
            match names.split_last() {
                None => out.emit(event),
                Some((last, rest)) => {
                    for name in rest {
                        out.emit_to(name, event.clone());
                    }
                    out.emit_to(last, event);
                }
            }
        }
        Ok(())
    }

    fn process_batch(&mut self, batch: Batch<'_>, out: &mut Output) -> Result<(), PluginError> {
        for row in batch.rows() {
            if !self.for_each_match(&row, |name| out.emit_row_to(name, &row)) {
                out.emit_row(&row);
            }
        }
        Ok(())
    }
}

impl Route {
    /// Calls `route` with the name of each route `event` goes to, in order;
    /// returns whether there was any.
    fn for_each_match<'s>(
        &'s self,
        event: &impl sluice_query::Fields,
        mut route: impl FnMut(&'s str),
    ) -> bool {
        let mut any = false;
        for (name, query) in &self.routes {
            if query.matches(event) {
                route(name);
                any = true;
                if self.first_match_only {
                    break;
                }
            }
        }
        any
    }
}

transform!(Route);

#[cfg(test)]
mod tests;
