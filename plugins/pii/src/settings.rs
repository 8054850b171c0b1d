//! The stage's config, checked and compiled into a [`Redactor`]. Every
//! refused value is a [`ConfigError`] naming its key (`actions.email`,
//! `custom.order_id`, `detectors[2]`, ...).

use regex::Regex;
use sluice_sdk::{Config, ConfigError, PluginInfo};

use crate::detect::Builtin;
use crate::redact::{Redactor, Scope};
use crate::scrub::{Action, Detector, Kind, Scrubber, DEFAULT_MASK};

/// The config keys, for `describe()`.
pub fn declare(info: PluginInfo) -> PluginInfo {
    info.key(
        "detectors",
        "list<string>",
        "built-in detectors to run (default: all): email, credit_card, us_ssn, ipv4, ipv6, \
         phone, jwt, bearer, aws_access_key, aws_secret_key; `custom` ones always run",
    )
    .key(
        "action",
        "string",
        "what to do with a match unless `actions` says otherwise: mask (default), hash, drop",
    )
    .key(
        "actions",
        "table",
        "detector = action overrides; also mask_last4 for credit_card, us_ssn, phone \
         and custom detectors (keeps the last 4 digits)",
    )
    .key(
        "fields",
        "list<string>",
        "fields scrubbed besides the message (default none): exact names, `prefix.*`, \
         or `*` for every string field",
    )
    .key(
        "hash_key",
        "string",
        "secret key of the `hash` action (HMAC-SHA256); required when any detector hashes",
    )
    .key(
        "mask",
        "string",
        "replacement of the `mask` action; `{detector}` is the detector's name \
         (default `[REDACTED:{detector}]`)",
    )
    .key(
        "custom",
        "table",
        "name = regex detectors of your own, run before the built-in ones; a group named \
         `pii` limits the match to that group",
    )
}

/// Checks the config and compiles it.
pub fn redactor(config: &Config) -> Result<Redactor, ConfigError> {
    let custom = custom_detectors(config)?;
    let enabled = enabled_builtins(config, &custom)?;

    let default_action = match config.string("action")? {
        None => Action::Mask,
        Some(text) => match Action::parse(&text) {
            Some(Action::MaskLast4) => {
                return Err(ConfigError::new(
                    "action",
                    "mask_last4 keeps digits, so it is set per detector: \
                     actions.credit_card = \"mask_last4\"",
                ))
            }
            Some(action) => action,
            None => return Err(unknown_action("action", &text)),
        },
    };

    // Custom detectors first: on overlap, the user's own patterns win.
    let mut detectors: Vec<Detector> = custom
        .into_iter()
        .map(|(name, regex, group)| Detector {
            name,
            kind: Kind::Custom { regex, group },
            action: default_action,
        })
        .chain(enabled.into_iter().map(|b| Detector {
            name: b.name().to_owned(),
            kind: Kind::Builtin(b),
            action: default_action,
        }))
        .collect();
    if detectors.is_empty() {
        return Err(ConfigError::new(
            "detectors",
            "no detector is enabled: list at least one, or define `custom` ones",
        ));
    }

    let mut explicit_action: Vec<Option<String>> = vec![None; detectors.len()];
    for (name, text) in config.string_map("actions")?.unwrap_or_default() {
        let key = format!("actions.{name}");
        let Some(at) = detectors.iter().position(|d| d.name == name) else {
            let message = if Builtin::from_name(&name).is_some() {
                format!("`{name}` is not enabled in `detectors`")
            } else {
                format!(
                    "no detector `{name}`; detectors: {}",
                    detector_names(&detectors)
                )
            };
            return Err(ConfigError::new(&key, message));
        };
        let action = Action::parse(&text).ok_or_else(|| unknown_action(&key, &text))?;
        let numeric = match &detectors[at].kind {
            Kind::Builtin(b) => b.is_numeric(),
            Kind::Custom { .. } => true,
        };
        if action == Action::MaskLast4 && !numeric {
            return Err(ConfigError::new(
                &key,
                "mask_last4 keeps the last 4 digits: it is for credit_card, us_ssn, phone \
                 and custom detectors",
            ));
        }
        detectors[at].action = action;
        explicit_action[at] = Some(key);
    }

    let mask = match config.string("mask")? {
        None => DEFAULT_MASK.to_owned(),
        Some(m) if m.is_empty() => {
            return Err(ConfigError::new(
                "mask",
                "an empty mask removes the match: use action \"drop\" for that",
            ))
        }
        Some(m) => m,
    };
    if !mask.contains("{detector}") {
        if let Some(at) = detectors.iter().position(|d| d.action == Action::MaskLast4) {
            return Err(ConfigError::new(
                "mask",
                format!(
                    "needs a `{{detector}}` placeholder: {} = \"mask_last4\" puts the last 4 \
                     digits there",
                    explicit_action[at].as_deref().unwrap_or("action")
                ),
            ));
        }
    }

    let hash_key = config.string("hash_key")?;
    match (
        &hash_key,
        detectors.iter().position(|d| d.action == Action::Hash),
    ) {
        (Some(k), _) if k.is_empty() => {
            return Err(ConfigError::new("hash_key", "must not be empty"));
        }
        (None, Some(at)) => {
            let by = explicit_action[at].as_deref().unwrap_or("action");
            return Err(ConfigError::new(
                "hash_key",
                format!("missing: {by} = \"hash\" needs a secret `hash_key` for HMAC-SHA256"),
            ));
        }
        _ => {}
    }

    let scope = scope(config)?;
    crate::detect::build_searchers();
    let scrubber = Scrubber::new(detectors, &mask, hash_key.as_deref());
    Ok(Redactor::new(scrubber, scope))
}

fn unknown_action(key: &str, text: &str) -> ConfigError {
    ConfigError::new(
        key,
        format!(
            "unknown action `{text}`, expected one of: {}",
            Action::NAMES
        ),
    )
}

fn detector_names(detectors: &[Detector]) -> String {
    detectors
        .iter()
        .map(|d| d.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `custom` table: (name, regex, index of the `pii` group).
fn custom_detectors(config: &Config) -> Result<Vec<(String, Regex, Option<usize>)>, ConfigError> {
    let mut out = Vec::new();
    for (name, pattern) in config.string_map("custom")?.unwrap_or_default() {
        let key = format!("custom.{name}");
        let valid_name = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid_name {
            return Err(ConfigError::new(
                &key,
                format!("`{name}` is not a detector name: use lower-case letters, digits and _"),
            ));
        }
        if Builtin::from_name(&name).is_some() {
            return Err(ConfigError::new(
                &key,
                format!("`{name}` is a built-in detector: give yours another name"),
            ));
        }
        let regex = Regex::new(&pattern)
            .map_err(|e| ConfigError::new(&key, format!("invalid regex: {e}")))?;
        if regex.is_match("") {
            return Err(ConfigError::new(
                &key,
                "the regex matches the empty string, so it would match everywhere",
            ));
        }
        let group = regex.capture_names().position(|n| n == Some("pii"));
        out.push((name, regex, group));
    }
    Ok(out)
}

/// The built-ins enabled by `detectors`, in priority order.
fn enabled_builtins(
    config: &Config,
    custom: &[(String, Regex, Option<usize>)],
) -> Result<Vec<Builtin>, ConfigError> {
    let Some(names) = config.string_list("detectors")? else {
        return Ok(Builtin::ALL.to_vec());
    };
    let mut chosen = Vec::new();
    for (i, name) in names.iter().enumerate() {
        match Builtin::from_name(name) {
            Some(b) => chosen.push(b),
            None if custom.iter().any(|(n, _, _)| n == name) => {}
            None => {
                let known: Vec<&str> = Builtin::ALL.iter().map(|b| b.name()).collect();
                return Err(ConfigError::new(
                    &format!("detectors[{i}]"),
                    format!(
                        "unknown detector `{name}`, expected one of: {}",
                        known.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(Builtin::ALL
        .into_iter()
        .filter(|b| chosen.contains(b))
        .collect())
}

fn scope(config: &Config) -> Result<Scope, ConfigError> {
    let mut scope = Scope::default();
    for (i, name) in config
        .string_list("fields")?
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let key = format!("fields[{i}]");
        if name == "*" {
            scope.all = true;
        } else if name == "message" {
            // The message is always scrubbed.
        } else if let Some(prefix) = name.strip_suffix(".*") {
            if prefix.is_empty() || prefix.contains('*') {
                return Err(ConfigError::new(
                    &key,
                    format!("`{name}` is not a field name or `prefix.*`"),
                ));
            }
            scope.prefixes.push(format!("{prefix}."));
        } else if name.is_empty() || name.contains('*') {
            return Err(ConfigError::new(
                &key,
                format!("`{name}` is not a field name: use a name, `prefix.*` or `*`"),
            ));
        } else {
            scope.exact.push(name);
        }
    }
    Ok(scope)
}
