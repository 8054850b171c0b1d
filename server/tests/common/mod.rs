//! What the server's integration tests share: an in-process server over a fresh store, and
//! provisioning the real clients they drive.
#![allow(dead_code, unused_imports)] // Each test file uses its own part.

use sluice_server::{serve, Api, ServerOptions};
use sluice_store::{Store, StoreOptions};
pub use sluice_test_support::ensure_tool;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// A server on its own 2-thread runtime; stopped when dropped.
pub struct Server {
    pub addr: std::net::SocketAddr,
    pub store: Arc<Store>,
    stop: tokio::sync::watch::Sender<bool>,
    pub runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// A server with default options.
pub fn start() -> Server {
    start_with(|_| ServerOptions::default())
}

/// A server whose options come from `options(dir)` (a directory the test may put files in;
/// the store is in `dir/store`).
pub fn start_with(options: impl FnOnce(&Path) -> ServerOptions) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let options = options(dir.path());
    let store = Arc::new(Store::open(dir.path().join("store"), StoreOptions::default()).unwrap());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let api = Api {
        store: Some(store.clone()),
        metrics: None,
        admin: None,
        options,
    };
    runtime.spawn(serve(api, listener, shutdown));
    Server {
        addr,
        store,
        stop,
        runtime,
        _dir: dir,
    }
}

/// One HTTP/1.1 request; the status, the content type (lower case) and the body.
pub fn request(
    addr: std::net::SocketAddr,
    method: &str,
    target: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "{method} {target} HTTP/1.1\r\nHost: t\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&response[..split]).to_lowercase();
    let status = head[9..12].parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|l| l.strip_prefix("content-type: "))
        .unwrap_or("")
        .to_owned();
    (status, content_type, response[split + 4..].to_vec())
}

/// Percent-encodes a query-string value.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
