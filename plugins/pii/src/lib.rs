//! `builtin:pii`: finds personal data and credentials in log events and
//! masks, hashes or drops them before the events leave the pipeline.
//!
//! Built-in detectors: `email`, `credit_card` (Luhn-checked, known issuer
//! prefixes), `us_ssn` (never-issued ranges excluded), `ipv4`, `ipv6`,
//! `phone` (E.164 and grouped international numbers, North American
//! formats), `jwt`, `bearer`, `aws_access_key` and `aws_secret_key`, plus
//! `custom` regexes from config. Each match is masked
//! (`[REDACTED:email]`), hashed with a keyed HMAC-SHA256 so one value
//! always gives one token and joins still work (`[email:hmac:…]`), or
//! dropped. The message is always scrubbed; `fields` adds fields. An event
//! with redactions gets `pii.redactions` (their count), and each detector
//! counts its matches in the stage counter `pii.<detector>`. Events without
//! findings pass through without being decoded.
//!
//! It is for keeping well-formed identifiers and secrets out of stored
//! logs, and tuned for precision on log text (order numbers, block ids,
//! versions, timestamps, MACs and hashes are not reported). It is not a
//! data-loss-prevention scanner: it does not find names, street addresses
//! or free-text secrets, does not decode URL-encoded or base64 content, and
//! does not recognise national formats beyond those listed (bare
//! `5551234567` is not a phone). Having PII never fails an event; only a
//! field named in `fields` that is not a string sends the event to
//! `errors`, after everything else in it was scrubbed.

pub mod detect;
pub mod hmac;
pub mod redact;
pub mod scrub;
pub mod settings;

use sluice_sdk::{
    host, Batch, Config, ConfigError, Event, Output, PluginError, PluginInfo, Transform,
};

use redact::Redactor;

/// The `pii` transform.
pub struct Pii {
    redactor: Redactor,
}

impl Pii {
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    fn scrub(&mut self, mut event: Event, out: &mut Output) {
        match self.redactor.redact(&mut event) {
            Ok(()) => out.emit(event),
            Err(reason) => out.fail(event, reason),
        }
    }

    fn report_counts(&mut self) {
        for (name, n) in self.redactor.take_counts() {
            host::counter_add(name, n);
        }
    }
}

impl Transform for Pii {
    fn describe() -> PluginInfo {
        settings::declare(
            PluginInfo::transform("pii", env!("CARGO_PKG_VERSION")).description(
                "masks, hashes or drops PII and secrets (emails, cards, SSNs, IPs, phones, \
                 tokens, AWS keys, custom regexes) in the message and chosen fields",
            ),
        )
    }

    fn configure(config: Config) -> Result<Self, ConfigError> {
        Ok(Pii {
            redactor: settings::redactor(&config)?,
        })
    }

    fn process(&mut self, batch: Vec<Event>, out: &mut Output) -> Result<(), PluginError> {
        for event in batch {
            self.scrub(event, out);
        }
        self.report_counts();
        Ok(())
    }

    /// Clean rows are copied through as they are; only rows with findings
    /// are decoded and rewritten.
    fn process_batch(&mut self, batch: Batch<'_>, out: &mut Output) -> Result<(), PluginError> {
        for row in batch.rows() {
            if self.redactor.row_is_clean(&row) {
                out.emit_row(&row);
            } else {
                self.scrub(row.to_event(), out);
            }
        }
        self.report_counts();
        Ok(())
    }
}

sluice_sdk::transform!(Pii);
