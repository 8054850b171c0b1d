//! TLS for the listener: rustls (with the ring provider) over a PEM
//! certificate chain and private key, loaded once at start so that a bad
//! file stops the process with its name rather than failing each handshake.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How long a client may take to finish the handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A certificate or key that cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", file.display())]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {what}", file.display())]
    Pem { file: PathBuf, what: String },
    #[error("the key {} does not go with the certificate {}: {source}", key.display(), cert.display())]
    Rejected {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
}

/// A loaded certificate and key, ready to accept connections.
#[derive(Clone)]
pub struct Tls {
    acceptor: TlsAcceptor,
    cert: PathBuf,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls").field("cert", &self.cert).finish()
    }
}

impl Tls {
    /// Reads a PEM certificate chain (the server's certificate first) and a
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub fn load(cert: &Path, key: &Path) -> Result<Tls, TlsError> {
        let read = |file: &Path| {
            std::fs::read(file).map_err(|source| TlsError::Read {
                file: file.to_owned(),
                source,
            })
        };
        let pem = |file: &Path, what: String| TlsError::Pem {
            file: file.to_owned(),
            what,
        };
        let chain = CertificateDer::pem_slice_iter(&read(cert)?)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pem(cert, format!("not a PEM certificate chain: {e}")))?;
        if chain.is_empty() {
            return Err(pem(
                cert,
                "holds no certificate (expected -----BEGIN CERTIFICATE-----)".into(),
            ));
        }
        let private = PrivateKeyDer::from_pem_slice(&read(key)?).map_err(|e| {
            pem(
                key,
                format!("holds no PEM private key (PKCS#8, PKCS#1 or SEC1): {e}"),
            )
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|source| TlsError::Rejected {
                cert: cert.to_owned(),
                key: key.to_owned(),
                source,
            })?
            .with_no_client_auth()
            .with_single_cert(chain, private)
            .map_err(|source| TlsError::Rejected {
                cert: cert.to_owned(),
                key: key.to_owned(),
                source,
            })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            cert: cert.to_owned(),
        })
    }

    /// The server side of a handshake on `stream`, bounded by
    /// [`HANDSHAKE_TIMEOUT`].
    pub async fn accept<IO>(&self, stream: IO) -> std::io::Result<TlsStream<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor.accept(stream))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake"))?
    }
}
