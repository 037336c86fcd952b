//! Bytes to a socket: negotiate over HTTP(S), open the WebSocket (ws or wss), exchange the
//! handshake. Nothing here reads hub messages; what follows the handshake response is left
//! in the [`MessageReader`] for the reader task.
//!
//! The rustls configuration is built once per CA file and shared ([`tls_config`]): building
//! it reads the file from disk and parses every root, and a run opens hundreds of
//! connections (and resumes) to the same target.

use super::state::{lock, Direction, FrameKind, Shared};
use super::{ClientOptions, WsStream};
use crate::error::ClientError;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use hubspec_wire::handshake::{HandshakeRequest, HandshakeResponse};
use hubspec_wire::{HubProtocol, MessageReader, NegotiateReply, NegotiateResponse, RecordReader};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::net::TcpStream;
use tokio::time::{timeout, timeout_at, Instant};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_tungstenite::tungstenite::{self, Message};
use url::Url;

/// The largest negotiate body read.
const NEGOTIATE_BODY_MAX: usize = 1 << 20;

/// The certificates in a PEM file, for [`ClientOptions::ca_file`]; the error says what is wrong.
pub fn load_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{} is not valid PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(certs)
}

/// The TLS client configurations built so far, one per CA file (`None`: the webpki roots
/// only). Sessions make their [`ClientOptions`] per connection from the target, so the
/// configuration cannot live in the options; a target's CA file is read once per process
/// (its configuration was already validated by reading it, `TargetConfig::ca_file`) and is
/// taken as fixed for the run. Only successes are kept: a failing file is reported on every
/// connect, as before.
static TLS_CONFIGS: Mutex<Vec<(Option<PathBuf>, Arc<rustls::ClientConfig>)>> =
    Mutex::new(Vec::new());

/// The TLS client configuration for `ca_file`: the webpki roots plus its certificates, built
/// on first use and shared after that.
pub(super) fn tls_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut cache = TLS_CONFIGS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, config)) = cache.iter().find(|(path, _)| path.as_deref() == ca_file) {
        return Ok(config.clone());
    }
    let config = build_tls_config(ca_file)?;
    cache.push((ca_file.map(Path::to_path_buf), config.clone()));
    Ok(config)
}

fn build_tls_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        for cert in load_ca_file(path)? {
            roots
                .add(cert)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The TLS server name of a URL host: `Url::host_str` keeps an IPv6 literal's brackets
/// (`[::1]`), which `ServerName` does not accept, so they are trimmed as for the TCP connect.
pub(super) fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    ServerName::try_from(bare.to_string()).map_err(|e| format!("{e}: {host:?}"))
}

/// Opens the WebSocket at `url` (`ws` or `wss`), within the connect timeout. An HTTP answer
/// other than 101 is [`ClientError::Status`] (a resume of an ended connection gets 404).
pub(super) async fn open_websocket(
    url: &str,
    opts: &ClientOptions,
    shared: &Mutex<Shared>,
) -> Result<WsStream, ClientError> {
    let bound = opts.connect_timeout;
    let connector = if url.starts_with("wss:") {
        let config =
            tls_config(opts.ca_file.as_deref()).map_err(|detail| ClientError::Connect {
                url: url.to_string(),
                detail,
            })?;
        Some(tokio_tungstenite::Connector::Rustls(config))
    } else {
        None
    };
    lock(shared).log(
        Direction::Out,
        FrameKind::Event,
        &format!("GET {url} (WebSocket upgrade)"),
    );
    match timeout(
        bound,
        tokio_tungstenite::connect_async_tls_with_config(url, None, true, connector),
    )
    .await
    {
        Err(_) => Err(ClientError::timeout(
            format!("the WebSocket connection to {url}"),
            bound,
        )),
        Ok(Ok((ws, _response))) => Ok(ws),
        Ok(Err(tungstenite::Error::Http(response))) => {
            let status = response.status().as_u16();
            let body = response
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(&b[..b.len().min(512)]).into_owned())
                .unwrap_or_default();
            lock(shared).log(
                Direction::In,
                FrameKind::Event,
                &format!("HTTP {status} {body}"),
            );
            Err(ClientError::Status {
                url: url.to_string(),
                status,
                body,
            })
        }
        Ok(Err(e)) => Err(ClientError::Connect {
            url: url.to_string(),
            detail: e.to_string(),
        }),
    }
}

/// The handshake (always a JSON record) for `opts.protocol`, version 2 when stateful
/// reconnect was granted, else 1: the first record each way. Returns the protocol's message
/// reader, which may already hold the messages that came in the same frame as the handshake
/// response.
pub(super) async fn handshake(
    sink: &mut SplitSink<WsStream, Message>,
    stream: &mut SplitStream<WsStream>,
    stateful: bool,
    opts: &ClientOptions,
    shared: &Mutex<Shared>,
) -> Result<MessageReader, ClientError> {
    let version = if stateful { 2 } else { 1 };
    let request = HandshakeRequest::for_protocol(opts.protocol, version).to_json();
    let request = hubspec_wire::framing::encode(&request);
    lock(shared).log(Direction::Out, FrameKind::Text, &request);
    timeout(opts.connect_timeout, sink.send(Message::text(request)))
        .await
        .map_err(|_| {
            ClientError::timeout("the handshake request to be written", opts.connect_timeout)
        })?
        .map_err(|e| ClientError::Closed {
            detail: format!("writing the handshake failed: {e}"),
        })?;
    let mut reader = RecordReader::with_max_record_size(opts.max_record_bytes);
    let deadline = Instant::now() + opts.connect_timeout;
    let handshake = loop {
        match reader.next_record() {
            Ok(Some(record)) => break record,
            Ok(None) => {}
            Err(e) => return Err(ClientError::protocol("PRO-HANDSHAKE", e.to_string())),
        }
        let frame = timeout_at(deadline, stream.next())
            .await
            .map_err(|_| ClientError::timeout("the handshake response", opts.connect_timeout))?;
        match frame {
            Some(Ok(Message::Text(t))) => {
                lock(shared).log(Direction::In, FrameKind::Text, t.as_str());
                reader.push(t.as_bytes());
            }
            Some(Ok(Message::Binary(b))) => {
                let mut s = lock(shared);
                s.log(
                    Direction::In,
                    FrameKind::Binary,
                    &String::from_utf8_lossy(&b),
                );
                s.find(
                    "PRO-TEXT-FRAMES",
                    "the handshake response came in a binary frame",
                );
                reader.push(&b);
            }
            Some(Ok(other)) => super::inbound::log_control(&mut lock(shared), &other),
            Some(Err(e)) => {
                return Err(ClientError::protocol(
                    "PRO-HANDSHAKE",
                    format!("the connection failed before the handshake response: {e}"),
                ))
            }
            None => {
                return Err(ClientError::protocol(
                    "PRO-HANDSHAKE",
                    "the server closed the connection before answering the handshake",
                ))
            }
        }
    };
    let (handshake, run_on) = split_handshake(&handshake, shared);
    match HandshakeResponse::parse(handshake) {
        Ok(r) if r.is_success() => {
            // What came after `{}` is already in the hub protocol.
            let mut messages = opts.protocol.reader(Some(opts.max_record_bytes));
            // What ran into the handshake is JSON text, read as a record under JSON; under
            // MessagePack it cannot be a message of the connection and is left out (the
            // finding shows it).
            if let (Some(rest), HubProtocol::Json) = (run_on, opts.protocol) {
                messages.push(format!("{rest}\u{1e}"));
            }
            messages.push(reader.take_remaining());
            Ok(messages)
        }
        Ok(r) => Err(ClientError::protocol(
            "PRO-HANDSHAKE",
            format!(
                "the server refused the handshake: {}",
                r.error.unwrap_or_default()
            ),
        )),
        Err(e) => Err(ClientError::protocol(
            "PRO-HANDSHAKE",
            format!("bad handshake response {handshake:?}: {e}"),
        )),
    }
}

/// The handshake response of a record that holds more than one JSON value (`{}{"type":6}`: a
/// server that forgot the separator after `{}`), split after the first value, which is a
/// `PRO-HANDSHAKE` finding; the rest is taken as the first hub message. A record that is one
/// value, or does not begin with an object, is returned whole for the parser to judge.
fn split_handshake<'a>(record: &'a str, shared: &Mutex<Shared>) -> (&'a str, Option<&'a str>) {
    let mut values = serde_json::Deserializer::from_str(record).into_iter::<serde_json::Value>();
    let end = match values.next() {
        Some(Ok(serde_json::Value::Object(_))) => values.byte_offset(),
        _ => return (record, None),
    };
    let (first, rest) = record.split_at(end);
    if rest.trim().is_empty() {
        return (record, None);
    }
    lock(shared).find(
        "PRO-HANDSHAKE",
        format!("the handshake response {first:?} has no record separator: {record:?}; read as {first:?} then {rest:?}"),
    );
    (first, Some(rest))
}

/// `POST {url}/negotiate?negotiateVersion=1[&useStatefulReconnect=true]` over HTTP/1.1 (TLS
/// for https, with the webpki roots and the certificates of `ca_file`).
pub(super) async fn negotiate(
    url: &str,
    opts: &ClientOptions,
    shared: &Mutex<Shared>,
) -> Result<NegotiateResponse, ClientError> {
    let bound = opts.connect_timeout;
    lock(shared).log(Direction::Out, FrameKind::Event, &format!("POST {url}"));
    let (status, body) = timeout(bound, http_post(url, opts.ca_file.as_deref()))
        .await
        .map_err(|_| ClientError::timeout(format!("the negotiate response from {url}"), bound))??;
    lock(shared).log(
        Direction::In,
        FrameKind::Event,
        &format!("HTTP {status} {body}"),
    );
    if status != 200 {
        return Err(ClientError::Status {
            url: url.to_string(),
            status,
            body,
        });
    }
    match NegotiateReply::parse(&body) {
        Ok(NegotiateReply::Negotiated(r)) if r.url.is_some() => Err(ClientError::protocol(
            "PRO-NEGOTIATE",
            format!(
                "negotiate redirects to {:?}; redirects are not supported",
                r.url
            ),
        )),
        Ok(NegotiateReply::Negotiated(r)) => Ok(r),
        Ok(NegotiateReply::Error(e)) => Err(ClientError::protocol(
            "PRO-NEGOTIATE",
            format!("negotiate answered an error: {e}"),
        )),
        Err(e) => match without_token(&body) {
            // Only the token is missing: the connection can still be opened without one (as
            // with skip_negotiation); `Client` records the deviation and goes on.
            Some(r) => Ok(r),
            None => Err(ClientError::protocol(
                "PRO-NEGOTIATE",
                format!("bad negotiate response ({e}): {body:?}"),
            )),
        },
    }
}

/// A version-1 negotiate response that lacks only its `connectionToken`, read with an empty
/// one (which `Client` takes as none).
fn without_token(body: &str) -> Option<NegotiateResponse> {
    let mut value: serde_json::Value = serde_json::from_str(body).ok()?;
    let object = value.as_object_mut()?;
    if object.contains_key("connectionToken") {
        return None;
    }
    object.insert("connectionToken".into(), "".into());
    match NegotiateReply::parse(&value.to_string()).ok()? {
        NegotiateReply::Negotiated(r) if r.url.is_none() => Some(r),
        _ => None,
    }
}

async fn http_post(url: &str, ca_file: Option<&Path>) -> Result<(u16, String), ClientError> {
    use http_body_util::Empty;
    use hyper::body::Bytes;
    let connect_err = |detail: String| ClientError::Connect {
        url: url.to_string(),
        detail,
    };
    let parsed = Url::parse(url).map_err(|e| connect_err(e.to_string()))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| connect_err("no host".into()))?
        .to_string();
    let port = parsed
        .port_or_known_default()
        .ok_or_else(|| connect_err("no port".into()))?;
    let tcp = TcpStream::connect((host.trim_matches(['[', ']']), port))
        .await
        .map_err(|e| connect_err(e.to_string()))?;
    let _ = tcp.set_nodelay(true);
    let path = &parsed[url::Position::BeforePath..];
    let request = http::Request::post(path)
        .header(http::header::HOST, format!("{host}:{port}"))
        .header(http::header::CONTENT_LENGTH, "0")
        .body(Empty::<Bytes>::new())
        .map_err(|e| connect_err(e.to_string()))?;
    let result = if parsed.scheme() == "https" {
        let config = tls_config(ca_file).map_err(connect_err)?;
        let name = server_name(&host).map_err(connect_err)?;
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| connect_err(format!("TLS: {e}")))?;
        send(tls, request).await
    } else {
        send(tcp, request).await
    };
    result.map_err(connect_err)
}

/// One HTTP/1.1 request on `io`; the status and the body (at most [`NEGOTIATE_BODY_MAX`]).
async fn send<T>(
    io: T,
    request: http::Request<http_body_util::Empty<hyper::body::Bytes>>,
) -> Result<(u16, String), String>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use http_body_util::{BodyExt, Limited};
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
            .await
            .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(conn);
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = Limited::new(response.into_body(), NEGOTIATE_BODY_MAX)
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    driver.abort();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_literal_host_is_a_server_name_without_its_brackets() {
        let url = Url::parse("https://[::1]:5001/hub").unwrap();
        let host = url.host_str().unwrap();
        assert_eq!(host, "[::1]", "Url keeps the brackets");
        let name = server_name(host).expect("a valid server name");
        assert_eq!(name.to_str(), "::1");
        assert!(matches!(name, ServerName::IpAddress(_)), "{name:?}");
    }

    #[test]
    fn dns_and_ipv4_hosts_are_server_names_as_they_are() {
        assert_eq!(server_name("hub.example").unwrap().to_str(), "hub.example");
        assert!(matches!(
            server_name("127.0.0.1").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(server_name("not a host").is_err());
    }

    #[test]
    fn the_tls_configuration_is_built_once_per_ca_file() {
        let dir = std::env::temp_dir().join(format!("hubspec-dial-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pem = dir.join("ca.pem");
        let key = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        std::fs::write(&pem, key.cert.pem()).unwrap();
        let first = tls_config(Some(&pem)).unwrap();
        // Once built, the file is not read again: a connect never touches the disk.
        std::fs::remove_file(&pem).unwrap();
        let second = tls_config(Some(&pem)).expect("built from the cache");
        assert!(Arc::ptr_eq(&first, &second));
        assert!(Arc::ptr_eq(
            &tls_config(None).unwrap(),
            &tls_config(None).unwrap()
        ));
        assert!(!Arc::ptr_eq(&first, &tls_config(None).unwrap()));
        let missing = dir.join("missing.pem");
        assert!(tls_config(Some(&missing))
            .unwrap_err()
            .contains("cannot read"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
