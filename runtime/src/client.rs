//! The client side of `sluice search` and `sluice tail`: reaching a server (`--server` or
//! `SLUICE_SERVER`, a bearer token from `--token` or `SLUICE_TOKEN`) and printing what it
//! answers as a table (coloured on a terminal, plain when piped), JSON or NDJSON. Not a
//! general HTTP client: one request per connection, plain HTTP.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::Value as Json;
use std::fmt::Write as _;

/// Why a request to the server failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("bad server address {0:?}: expected http://HOST:PORT")]
    BadServer(String),
    #[error("cannot reach {server}: {message}")]
    Connect { server: String, message: String },
    #[error("{server} answered {status}: {message}")]
    Status {
        server: String,
        status: u16,
        message: String,
    },
    #[error("{server} answered something that is not JSON: {message}")]
    NotJson { server: String, message: String },
}

/// A server to talk to.
#[derive(Clone, Debug)]
pub struct Server {
    /// `host:port`.
    pub authority: String,
    /// As given, for messages.
    pub url: String,
    pub token: Option<String>,
}

impl Server {
    /// `http://host:port` (or `host:port`); the path, if any, is ignored.
    pub fn parse(url: &str, token: Option<String>) -> Result<Server, ClientError> {
        let rest = url.strip_prefix("http://").unwrap_or(url);
        if rest.starts_with("https://") || url.contains("://") && !url.starts_with("http://") {
            return Err(ClientError::BadServer(url.to_owned()));
        }
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.is_empty() || !authority.contains(':') {
            return Err(ClientError::BadServer(url.to_owned()));
        }
        Ok(Server {
            authority: authority.to_owned(),
            url: url.to_owned(),
            token: token.filter(|t| !t.is_empty()),
        })
    }

    fn unreachable(&self, message: impl ToString) -> ClientError {
        ClientError::Connect {
            server: self.url.clone(),
            message: message.to_string(),
        }
    }

    async fn connect(&self) -> Result<tokio::net::TcpStream, ClientError> {
        let stream = tokio::net::TcpStream::connect(&self.authority)
            .await
            .map_err(|e| self.unreachable(e))?;
        stream.set_nodelay(true).map_err(|e| self.unreachable(e))?;
        Ok(stream)
    }

    /// A non-2xx answer as an error with the server's own message (and the query column,
    /// when it points at one).
    fn refused(&self, status: u16, body: &[u8]) -> ClientError {
        let message = serde_json::from_slice::<Json>(body)
            .ok()
            .and_then(|json| {
                let error = json["error"].as_str()?.to_owned();
                Some(match json["column"].as_u64() {
                    Some(column) => format!("{error} (at column {column})"),
                    None => error,
                })
            })
            .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
        ClientError::Status {
            server: self.url.clone(),
            status,
            message,
        }
    }

    /// `GET target`, answered with JSON; a non-2xx answer is an error carrying the
    /// server's own message (and the query column, when it points at one).
    pub async fn get_json(&self, target: &str) -> Result<Json, ClientError> {
        let (mut sender, connection) = http1::handshake(TokioIo::new(self.connect().await?))
            .await
            .map_err(|e| self.unreachable(e))?;
        tokio::spawn(connection);
        let mut request = hyper::Request::get(target)
            .header("host", &self.authority)
            .header("accept", "application/json");
        if let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request
            .body(Full::new(Bytes::new()))
            .map_err(|e| self.unreachable(e))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| self.unreachable(e))?
            .to_bytes();
        if !status.is_success() {
            return Err(self.refused(status.as_u16(), &body));
        }
        serde_json::from_slice(&body).map_err(|e| ClientError::NotJson {
            server: self.url.clone(),
            message: e.to_string(),
        })
    }
}

/// What a tail session prints.
pub enum TailMessage {
    /// Events, rendered for the chosen output.
    Events(String),
    /// The server dropped this many events for us because we read too slowly.
    Skipped(u64),
}

impl Server {
    /// Opens `GET target` as a WebSocket and hands each message to `each` until the server
    /// closes the session or `each` returns false.
    pub async fn tail(
        &self,
        target: &str,
        output: Output,
        colour: bool,
        mut each: impl FnMut(TailMessage) -> bool,
    ) -> Result<(), ClientError> {
        use futures::StreamExt;
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        use tokio_tungstenite::tungstenite::Message;
        let stream = self.connect().await?;
        let mut request = format!("ws://{}{target}", self.authority)
            .into_client_request()
            .map_err(|e| self.unreachable(e))?;
        if let Some(token) = &self.token {
            let value = format!("Bearer {token}")
                .parse()
                .map_err(|_| self.unreachable("the token is not a valid header value"))?;
            request.headers_mut().insert("authorization", value);
        }
        let (mut socket, _) = match tokio_tungstenite::client_async(request, stream).await {
            Ok(opened) => opened,
            // The server refused before the upgrade, with its usual JSON error.
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                let body = response.body().clone().unwrap_or_default();
                return Err(self.refused(response.status().as_u16(), &body));
            }
            Err(e) => return Err(self.unreachable(e)),
        };
        while let Some(message) = socket.next().await {
            let text = match message.map_err(|e| self.unreachable(e))? {
                Message::Text(text) => text,
                Message::Close(_) => break,
                _ => continue,
            };
            let json: Json = serde_json::from_str(&text).map_err(|e| ClientError::NotJson {
                server: self.url.clone(),
                message: e.to_string(),
            })?;
            let message = match json["type"].as_str() {
                Some("skipped") => TailMessage::Skipped(json["count"].as_u64().unwrap_or(0)),
                Some("events") => {
                    let hits = json["events"].as_array().map_or(&[][..], Vec::as_slice);
                    TailMessage::Events(match output {
                        Output::Table => hits_table(hits, colour),
                        Output::Json | Output::Ndjson => {
                            hits.iter().map(|h| h.to_string() + "\n").collect()
                        }
                    })
                }
                _ => continue,
            };
            if !each(message) {
                break;
            }
        }
        Ok(())
    }
}

/// Percent-encodes a query-string value.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// How results are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Aligned columns (time, level, service, message); coloured on a terminal.
    Table,
    /// The server's answer, pretty-printed.
    Json,
    /// One JSON object per hit or row.
    Ndjson,
}

/// Renders a search answer (hits, or an aggregation's columns and rows).
pub fn render(answer: &Json, output: Output, colour: bool) -> String {
    match output {
        Output::Json => serde_json::to_string_pretty(answer).unwrap_or_default() + "\n",
        Output::Ndjson => {
            let mut out = String::new();
            for line in lines_of(answer) {
                out.push_str(&line.to_string());
                out.push('\n');
            }
            out
        }
        Output::Table => match answer.get("columns") {
            Some(_) => rows_table(answer),
            None => hits_table(
                answer["hits"].as_array().map_or(&[][..], Vec::as_slice),
                colour,
            ),
        },
    }
}

/// The hits, or each aggregation row as an object of its columns.
fn lines_of(answer: &Json) -> Vec<Json> {
    if let (Some(columns), Some(rows)) = (answer["columns"].as_array(), answer["rows"].as_array()) {
        return rows
            .iter()
            .map(|row| {
                let mut object = serde_json::Map::new();
                for (column, value) in columns.iter().zip(row.as_array().into_iter().flatten()) {
                    object.insert(
                        column.as_str().unwrap_or_default().to_owned(),
                        value.clone(),
                    );
                }
                Json::Object(object)
            })
            .collect();
    }
    answer["hits"].as_array().cloned().unwrap_or_default()
}

fn text(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

/// Hits as `time  level  service  message`, one per line (the message's own line breaks
/// shown as `⏎`), the level coloured when `colour`.
pub fn hits_table(hits: &[Json], colour: bool) -> String {
    let cell = |hit: &Json, name: &str| text(&hit["fields"][name]);
    let level_width = hits
        .iter()
        .map(|h| cell(h, "level").len())
        .max()
        .unwrap_or(0);
    let service_width = hits
        .iter()
        .map(|h| cell(h, "service").len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for hit in hits {
        let level = cell(hit, "level");
        let painted = if colour {
            let code = match level.to_ascii_uppercase().as_str() {
                "FATAL" | "CRITICAL" | "ERROR" => "31",
                "WARN" | "WARNING" => "33",
                "INFO" => "32",
                _ => "2",
            };
            format!("\x1b[{code}m{level:<level_width$}\x1b[0m")
        } else {
            format!("{level:<level_width$}")
        };
        let time = text(&hit["timestamp"]);
        let time = if colour {
            format!("\x1b[2m{time}\x1b[0m")
        } else {
            time
        };
        let message = text(&hit["message"]).replace('\n', " ⏎ ");
        let _ = writeln!(
            out,
            "{time}  {painted}  {:<service_width$}  {message}",
            cell(hit, "service")
        );
    }
    out
}

/// An aggregation's columns and rows, aligned, numbers to the right.
fn rows_table(answer: &Json) -> String {
    let columns: Vec<String> = answer["columns"]
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    let rows: Vec<Vec<Json>> = answer["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r.as_array().cloned().unwrap_or_default())
        .collect();
    let mut widths: Vec<usize> = columns.iter().map(|c| c.chars().count()).collect();
    for row in &rows {
        for (i, value) in row.iter().enumerate().take(widths.len()) {
            widths[i] = widths[i].max(text(value).chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<(String, bool)>| -> String {
        let mut line = String::new();
        for (i, (cell, right)) in cells.iter().enumerate() {
            let width = widths[i];
            if i > 0 {
                line.push_str("  ");
            }
            if *right {
                let _ = write!(line, "{cell:>width$}");
            } else {
                let _ = write!(line, "{cell:<width$}");
            }
        }
        line.trim_end().to_owned() + "\n"
    };
    out.push_str(&line(columns.iter().map(|c| (c.clone(), false)).collect()));
    for row in &rows {
        out.push_str(&line(
            row.iter()
                .take(widths.len())
                .map(|v| (text(v), v.is_number()))
                .collect(),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn servers_parse_and_bad_ones_are_named() {
        let s = Server::parse("http://127.0.0.1:7280/", Some("t".into())).unwrap();
        assert_eq!(s.authority, "127.0.0.1:7280");
        assert_eq!(
            Server::parse("localhost:9", None).unwrap().authority,
            "localhost:9"
        );
        let error = Server::parse("ftp://x:1", None).unwrap_err().to_string();
        assert!(error.contains("ftp://x:1"), "{error}");
        assert!(Server::parse("http://nohost", None).is_err());
    }

    #[test]
    fn tables_align_and_colour_only_when_asked() {
        let answer = json!({"hits": [
            {"timestamp": "2026-01-01T00:00:00Z", "message": "a\nb", "fields": {"level": "ERROR", "service": "web"}},
            {"timestamp": "2026-01-01T00:00:01Z", "message": "c", "fields": {"level": "INFO", "service": "payments"}},
        ]});
        let plain = render(&answer, Output::Table, false);
        assert_eq!(
            plain,
            "2026-01-01T00:00:00Z  ERROR  web       a ⏎ b\n2026-01-01T00:00:01Z  INFO   payments  c\n"
        );
        assert!(!plain.contains('\x1b'));
        assert!(render(&answer, Output::Table, true).contains("\x1b[31mERROR\x1b[0m"));
        let nd = render(&answer, Output::Ndjson, false);
        assert_eq!(nd.lines().count(), 2);
        let rows = json!({"columns": ["level", "count()"], "rows": [["ERROR", 12], ["INFO", 3]]});
        assert_eq!(
            render(&rows, Output::Table, false),
            "level  count()\nERROR       12\nINFO         3\n"
        );
        assert_eq!(
            render(&rows, Output::Ndjson, false),
            "{\"level\":\"ERROR\",\"count()\":12}\n{\"level\":\"INFO\",\"count()\":3}\n"
        );
        assert_eq!(encode("a b:\"c\""), "a%20b%3A%22c%22");
    }
}
