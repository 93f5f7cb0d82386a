//! AWS configuration, loaded once per cold start. `AWS_ENDPOINT_URL` (and the per-service
//! `AWS_ENDPOINT_URL_<SERVICE>`) point the same binaries at a local emulator (plain http works).
//!
//! Every SDK client of a process shares ONE HTTP client, set on the [`SdkConfig`]: one connection
//! pool and one TLS configuration. Which roots it trusts is [`crate::tls`]'s choice: by default
//! Mozilla's, compiled in, through [`WebpkiHttpClient`] (hyper 1 + hyper-rustls, HTTP/1.1);
//! with `CLAWLESS_TLS_ROOTS=native`, the SDK's stock client (the OS trust store; `HTTPS_PROXY`
//! honoured), built once.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

pub use aws_config::SdkConfig;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connection::{CaptureSmithyConnection, ConnectionMetadata};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::ErrorKind;
use hyper_util::client::legacy::connect::{CaptureConnection, HttpConnector as TcpConnector, HttpInfo};
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::tls::TrustRoots;

/// The SDK configuration for a function or the agent: credentials, region and endpoints from the
/// environment, and the process's shared HTTP client trusting the roots `CLAWLESS_TLS_ROOTS`
/// chooses (webpki by default).
pub async fn load_sdk_config() -> SdkConfig {
    load_sdk_config_with(TrustRoots::from_env(TrustRoots::Webpki)).await
}

/// As [`load_sdk_config`], trusting `roots` (the CLI defaults to the OS trust store).
pub async fn load_sdk_config_with(roots: TrustRoots) -> SdkConfig {
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(shared_http_client(roots));
    let loader = if lambda_env_credentials(|name| std::env::var_os(name).is_some()) {
        // What the default chain would find first anyway, without building the rest of it (its
        // web-identity provider alone builds an STS client: a tenth of a function's init).
        loader.credentials_provider(aws_config::environment::EnvironmentVariableCredentialsProvider::new())
    } else {
        loader
    };
    loader.load().await
}

/// In a Lambda function the execution role's credentials are in the environment
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), and the default chain
/// returns them before any other provider. Not when a container-credentials endpoint is
/// configured (Lambda SnapStart uses one): then the default chain decides.
fn lambda_env_credentials(is_set: impl Fn(&str) -> bool) -> bool {
    is_set("AWS_LAMBDA_FUNCTION_NAME")
        && is_set("AWS_ACCESS_KEY_ID")
        && is_set("AWS_SECRET_ACCESS_KEY")
        && !is_set("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        && !is_set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
}

/// The process's one SDK HTTP client for `roots`, built on first use. The webpki client builds
/// its TLS configuration here, so that (small) cost is part of init, not of the first request.
pub fn shared_http_client(roots: TrustRoots) -> SharedHttpClient {
    static WEBPKI: OnceLock<SharedHttpClient> = OnceLock::new();
    static NATIVE: OnceLock<SharedHttpClient> = OnceLock::new();
    match roots {
        TrustRoots::Webpki => WEBPKI
            .get_or_init(|| SharedHttpClient::new(WebpkiHttpClient::new(crate::tls::shared_webpki_config().clone())))
            .clone(),
        TrustRoots::Native => NATIVE.get_or_init(stock_http_client).clone(),
    }
}

/// The SDK's default client (aws-smithy-runtime's `default_https_client`: rustls with aws-lc, the
/// OS trust store, proxy settings from the environment), but one per process instead of one per
/// service client.
fn stock_http_client() -> SharedHttpClient {
    use aws_smithy_http_client::{ConnectorBuilder, proxy::ProxyConfig, tls};
    aws_smithy_http_client::Builder::new().build_with_connector_fn(|settings, components| {
        let mut builder =
            ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc));
        builder.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            builder.set_sleep_impl(components.sleep_impl());
        }
        builder.set_proxy_config(Some(ProxyConfig::from_env()));
        builder.build()
    })
}

/// Connect and read timeouts: what a connector is built for.
type Timeouts = (Option<Duration>, Option<Duration>);
type HyperClient = hyper_util::client::legacy::Client<ConnectTimeout<HttpsConnector>, SdkBody>;
type HttpsConnector = hyper_rustls::HttpsConnector<TcpConnector>;

/// An SDK HTTP client over hyper 1 and hyper-rustls with a given rustls configuration (http and
/// https URLs; HTTP/1.1). One connector (and connection pool) per distinct pair of connect and
/// read timeouts, which in practice is one per process: the SDK clients share the SdkConfig's
/// timeouts.
///
/// What the SDK's stock connector does and this one does too: connect timeout (TCP and TLS
/// handshake), read timeout (until the response headers), connection poisoning after
/// transient errors, errors classified for the retry strategy (timeouts, I/O and DNS errors
/// retried; certificate and protocol errors not). What it does not: proxies and HTTP/2 (no AWS
/// API these processes call needs either; `CLAWLESS_TLS_ROOTS=native` gives the stock client).
#[derive(Debug)]
pub struct WebpkiHttpClient {
    tls: rustls::ClientConfig,
    connectors: Mutex<Vec<(Timeouts, SharedHttpConnector)>>,
}

impl WebpkiHttpClient {
    pub fn new(tls: rustls::ClientConfig) -> Self {
        Self { tls, connectors: Mutex::new(Vec::new()) }
    }
}

impl HttpClient for WebpkiHttpClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, _components: &RuntimeComponents) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        let mut connectors = self.connectors.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, connector)) = connectors.iter().find(|(k, _)| *k == key) {
            return connector.clone();
        }
        let connector = SharedHttpConnector::new(WebpkiConnector::new(self.tls.clone(), key.0, key.1));
        connectors.push((key, connector.clone()));
        connector
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        Some(ConnectorMetadata::new("hyper", Some(Cow::Borrowed("1.x"))))
    }
}

#[derive(Debug)]
struct WebpkiConnector {
    client: HyperClient,
    read_timeout: Option<Duration>,
}

impl WebpkiConnector {
    fn new(tls: rustls::ClientConfig, connect_timeout: Option<Duration>, read_timeout: Option<Duration>) -> Self {
        let mut tcp = TcpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .build(ConnectTimeout { inner: https, timeout: connect_timeout });
        Self { client, read_timeout }
    }
}

impl HttpConnector for WebpkiConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let mut request = match request.try_into_http1x() {
            Ok(request) => request,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        let capture = hyper_util::client::legacy::connect::capture_connection(&mut request);
        if let Some(smithy) = request.extensions().get::<CaptureSmithyConnection>() {
            smithy.set_connection_retriever(move || connection_metadata(&capture));
        }
        let response = self.client.request(request);
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let response = match read_timeout {
                Some(limit) => match tokio::time::timeout(limit, response).await {
                    Ok(response) => response,
                    Err(_) => return Err(ConnectorError::timeout(Box::new(TimedOut { phase: "read", limit }))),
                },
                None => response.await,
            };
            match response {
                Ok(response) => HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                    .map_err(|e| ConnectorError::other(e.into(), None)),
                Err(e) => Err(classify(e)),
            }
        })
    }
}

/// What the SDK's connection-poisoning interceptor needs: the connection's addresses and a way to
/// keep it out of the pool after a transient error.
fn connection_metadata(capture: &CaptureConnection) -> Option<ConnectionMetadata> {
    let connected = capture.connection_metadata();
    let connected = connected.as_ref()?;
    let mut extras = http::Extensions::new();
    connected.get_extras(&mut extras);
    let info = extras.get::<HttpInfo>();
    let capture = capture.clone();
    let mut builder = ConnectionMetadata::builder().proxied(false).poison_fn(move || {
        if let Some(connected) = capture.connection_metadata().as_ref() {
            connected.poison();
        }
    });
    builder.set_local_addr(info.map(|i| i.local_addr())).set_remote_addr(info.map(|i| i.remote_addr()));
    Some(builder.build())
}

/// A connect or read phase that ran out of time.
#[derive(Debug)]
struct TimedOut {
    phase: &'static str,
    limit: Duration,
}

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} timed out after {:?}", self.phase, self.limit)
    }
}

impl StdError for TimedOut {}

/// The errors in `error`'s chain, looking inside `io::Error`s (whose `source` skips their payload).
fn chain<'a>(error: &'a (dyn StdError + 'static)) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |&e| match e.downcast_ref::<std::io::Error>() {
        Some(io) => io.get_ref().map(|inner| inner as &(dyn StdError + 'static)),
        None => e.source(),
    })
}

/// Classifies a hyper client error for the SDK's retry strategy, as its stock connector does.
fn classify(error: hyper_util::client::legacy::Error) -> ConnectorError {
    let timed_out = chain(&error).any(|e| e.is::<TimedOut>());
    let tls_refused = chain(&error).any(|e| e.is::<rustls::Error>());
    let is_connect = error.is_connect();
    let hyper = chain(&error)
        .find_map(|e| e.downcast_ref::<hyper::Error>())
        .map(|h| (h.is_timeout(), h.is_user(), h.is_closed() || h.is_canceled(), h.is_incomplete_message()));
    let io = chain(&error).any(|e| e.is::<std::io::Error>());
    let boxed: BoxError = Box::new(error);
    if timed_out {
        return ConnectorError::timeout(boxed);
    }
    if tls_refused {
        // An untrusted certificate or a protocol failure: trying again will not help.
        return ConnectorError::other(boxed, None);
    }
    match hyper {
        Some((true, _, _, _)) => ConnectorError::timeout(boxed),
        Some((_, true, _, _)) => ConnectorError::user(boxed),
        Some((_, _, true, _)) => ConnectorError::io(boxed),
        Some((_, _, _, true)) => ConnectorError::other(boxed, Some(ErrorKind::TransientError)),
        _ if is_connect || io => ConnectorError::io(boxed),
        _ => ConnectorError::other(boxed, None),
    }
}

/// Bounds connection establishment (DNS, TCP and the TLS handshake) by the SDK's connect timeout.
#[derive(Clone, Debug)]
struct ConnectTimeout<C> {
    inner: C,
    timeout: Option<Duration>,
}

impl<C> tower_service::Service<http::Uri> for ConnectTimeout<C>
where
    C: tower_service::Service<http::Uri>,
    C::Future: Send + 'static,
    C::Response: Send + 'static,
    C::Error: Into<BoxError>,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let timeout = self.timeout;
        Box::pin(async move {
            match timeout {
                Some(limit) => match tokio::time::timeout(limit, connecting).await {
                    Ok(connected) => connected.map_err(Into::into),
                    Err(_) => Err(Box::new(TimedOut { phase: "connect", limit }) as BoxError),
                },
                None => connecting.await.map_err(Into::into),
            }
        })
    }
}

/// A short, secret-free description of an SDK error for logs and error messages.
pub fn describe_sdk_error<E, R>(err: &aws_sdk_dynamodb::error::SdkError<E, R>) -> String
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_dynamodb::error::SdkError;
    match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            format!("{}: {}", e.code().unwrap_or("ServiceError"), e.message().unwrap_or(""))
        }
        SdkError::TimeoutError(_) => "request timed out".to_owned(),
        SdkError::DispatchFailure(d) => format!("dispatch failure: {d:?}"),
        other => format!("{other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    fn dynamodb(
        http: SharedHttpClient,
        endpoint: &str,
        timeouts: aws_config::timeout::TimeoutConfig,
    ) -> aws_sdk_dynamodb::Client {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .endpoint_url(endpoint)
            .http_client(http)
            .timeout_config(timeouts)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    fn dispatch_failure<E: std::fmt::Debug, R: std::fmt::Debug>(
        err: &aws_sdk_dynamodb::error::SdkError<E, R>,
    ) -> &aws_smithy_runtime_api::client::result::DispatchFailure {
        match err {
            aws_sdk_dynamodb::error::SdkError::DispatchFailure(d) => d,
            other => panic!("expected a dispatch failure: {other:?}"),
        }
    }

    #[test]
    fn env_credentials_only_in_lambda_without_a_credentials_endpoint() {
        let lambda = ["AWS_LAMBDA_FUNCTION_NAME", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"];
        assert!(lambda_env_credentials(|n| lambda.contains(&n)));
        assert!(!lambda_env_credentials(|n| lambda[1..].contains(&n)), "not in Lambda: the default chain");
        assert!(!lambda_env_credentials(|n| lambda.contains(&n) || n == "AWS_CONTAINER_CREDENTIALS_FULL_URI"));
        assert!(!lambda_env_credentials(|n| n != "AWS_SECRET_ACCESS_KEY" && lambda.contains(&n)));
    }

    #[test]
    fn one_client_per_process_and_roots() {
        let a = shared_http_client(TrustRoots::Webpki);
        let b = shared_http_client(TrustRoots::Webpki);
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        assert!(format!("{a:?}").contains("WebpkiHttpClient"));
        assert!(!format!("{:?}", shared_http_client(TrustRoots::Native)).contains("WebpkiHttpClient"));
    }

    #[tokio::test]
    async fn plain_http_endpoints_work_and_connectors_are_shared() {
        use wiremock::matchers::{header, method};
        use wiremock::{Mock, MockServer, ResponseTemplate};
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(header("x-amz-target", "DynamoDB_20120810.ListTables"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("content-type", "application/x-amz-json-1.0")
                    .set_body_string(r#"{"TableNames":["a","b"]}"#),
            )
            .expect(3)
            .mount(&server)
            .await;
        let http = SharedHttpClient::new(WebpkiHttpClient::new(crate::tls::webpki_client_config()));
        let timeouts = aws_config::timeout::TimeoutConfig::builder().connect_timeout(Duration::from_secs(3)).build();
        let first = dynamodb(http.clone(), &server.uri(), timeouts.clone());
        let second = dynamodb(http.clone(), &server.uri(), timeouts);
        for client in [&first, &second, &first] {
            let tables = client.list_tables().send().await.expect("list tables over plain http");
            assert_eq!(tables.table_names(), ["a", "b"]);
        }
        let cached = format!("{http:?}");
        assert_eq!(cached.matches("WebpkiConnector").count(), 1, "one connector for one timeout setting: {cached}");
    }

    /// A listener that accepts connections and never answers: a TLS handshake or a response that
    /// never comes.
    async fn silent_listener() -> (String, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        (addr.to_string(), task)
    }

    #[tokio::test]
    async fn a_stalled_handshake_is_a_connect_timeout_and_a_stalled_response_a_read_timeout() {
        let http = SharedHttpClient::new(WebpkiHttpClient::new(crate::tls::webpki_client_config()));
        let (addr, task) = silent_listener().await;
        let limit = Duration::from_millis(200);

        let timeouts = aws_config::timeout::TimeoutConfig::builder().connect_timeout(limit).build();
        let started = Instant::now();
        let err = dynamodb(http.clone(), &format!("https://{addr}"), timeouts).list_tables().send().await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        let dispatch = dispatch_failure(&err);
        assert!(dispatch.is_timeout(), "{err:?}");

        let timeouts = aws_config::timeout::TimeoutConfig::builder().read_timeout(limit).build();
        let err = dynamodb(http, &format!("http://{addr}"), timeouts).list_tables().send().await.unwrap_err();
        let dispatch = dispatch_failure(&err);
        assert!(dispatch.is_timeout(), "{err:?}");
        task.abort();
    }

    #[tokio::test]
    async fn refused_connections_are_io_errors_and_tls_failures_are_not_retried() {
        let http = SharedHttpClient::new(WebpkiHttpClient::new(crate::tls::webpki_client_config()));
        let timeouts = aws_config::timeout::TimeoutConfig::builder().connect_timeout(Duration::from_secs(3)).build();
        // A port nothing listens on.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let err = dynamodb(http.clone(), &format!("http://{closed}"), timeouts.clone())
            .list_tables()
            .send()
            .await
            .unwrap_err();
        let dispatch = dispatch_failure(&err);
        assert!(dispatch.is_io(), "{err:?}");

        // An http server spoken to over https: the handshake fails on the server's plain answer.
        let server = wiremock::MockServer::start().await;
        let https = server.uri().replace("http://", "https://");
        let err = dynamodb(http, &https, timeouts).list_tables().send().await.unwrap_err();
        let dispatch = dispatch_failure(&err);
        assert!(dispatch.is_other(), "a TLS failure is not retried: {err:?}");
    }

    /// A TLS server on 127.0.0.1 with a fresh self-signed certificate for `localhost`, answering
    /// every request on a connection with DynamoDB's ListTables response. Returns its port, the
    /// certificate, and how many TLS connections it accepted.
    async fn tls_dynamodb() -> (u16, rustls::pki_types::CertificateDer<'static>, Arc<AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let issued = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let cert = issued.cert.der().clone();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(issued.signing_key.serialize_der().into());
        let config =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![cert.clone()], key)
                .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let counter = counter.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(socket).await else { return };
                    counter.fetch_add(1, Ordering::SeqCst);
                    let mut buf = Vec::new();
                    loop {
                        // One request: headers, then a Content-Length body.
                        let head_end = loop {
                            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                break i + 4;
                            }
                            let mut chunk = [0u8; 4096];
                            match tls.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        };
                        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        while buf.len() < head_end + length {
                            let mut chunk = [0u8; 4096];
                            match tls.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        buf.drain(..head_end + length);
                        let body = r#"{"TableNames":["over-tls"]}"#;
                        let response = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if tls.write_all(response.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (port, cert, accepted)
    }

    fn trusting(cert: rustls::pki_types::CertificateDer<'static>) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).unwrap();
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth()
    }

    #[tokio::test]
    async fn https_requests_complete_over_a_verified_handshake_and_reuse_the_connection() {
        let (port, cert, accepted) = tls_dynamodb().await;
        let http = SharedHttpClient::new(WebpkiHttpClient::new(trusting(cert)));
        let timeouts = aws_config::timeout::TimeoutConfig::builder().connect_timeout(Duration::from_secs(3)).build();
        let client = dynamodb(http, &format!("https://localhost:{port}"), timeouts);
        for _ in 0..3 {
            let tables = client.list_tables().send().await.expect("ListTables over TLS");
            assert_eq!(tables.table_names(), ["over-tls"]);
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "the pooled connection is kept alive");
    }

    #[tokio::test]
    async fn untrusted_certificates_and_wrong_host_names_are_refused_and_not_retried() {
        let (port, cert, accepted) = tls_dynamodb().await;
        let timeouts = aws_config::timeout::TimeoutConfig::builder().connect_timeout(Duration::from_secs(3)).build();

        // Mozilla's roots do not include a self-signed certificate.
        let mozilla = SharedHttpClient::new(WebpkiHttpClient::new(crate::tls::webpki_client_config()));
        let err = dynamodb(mozilla, &format!("https://localhost:{port}"), timeouts.clone())
            .list_tables()
            .send()
            .await
            .unwrap_err();
        assert!(dispatch_failure(&err).is_other(), "an untrusted certificate is not retried: {err:?}");
        let chain = format!("{:?}", dispatch_failure(&err));
        assert!(chain.contains("UnknownIssuer"), "{chain}");

        // The right root, but the certificate does not name 127.0.0.1.
        let trusted = SharedHttpClient::new(WebpkiHttpClient::new(trusting(cert)));
        let err =
            dynamodb(trusted, &format!("https://127.0.0.1:{port}"), timeouts).list_tables().send().await.unwrap_err();
        assert!(dispatch_failure(&err).is_other(), "{err:?}");
        let chain = format!("{:?}", dispatch_failure(&err));
        assert!(chain.contains("NotValidForName"), "{chain}");
        assert_eq!(accepted.load(Ordering::SeqCst), 0, "no handshake completed");

        // The channel APIs' reqwest client verifies the same way.
        let err = crate::tls::reqwest_builder_with(crate::tls::TrustRoots::Webpki)
            .build()
            .unwrap()
            .get(format!("https://localhost:{port}/"))
            .send()
            .await
            .unwrap_err();
        assert!(err.is_connect(), "{err:?}");
    }
}
