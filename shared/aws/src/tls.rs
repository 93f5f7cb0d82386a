//! TLS for the HTTPS a clawless process makes: the AWS SDK's calls ([`crate::aws`]) and the
//! channel APIs' (reqwest, [`reqwest_builder`]).
//!
//! By default both trust Mozilla's root programme as compiled into the binary (the `webpki-roots`
//! crate: trust anchors already parsed at build time). The stock clients read and parse the
//! operating system's CA bundle instead, once per client and on every cold start, which was
//! most of a function's init time. Certificates are verified exactly as before (rustls/webpki:
//! chain, validity, host name); only the list of trusted roots comes from the binary.
//!
//! `CLAWLESS_TLS_ROOTS=native` opts back into the operating system's trust store, for a private
//! CA or a TLS-inspecting proxy: the AWS SDK and reqwest then use their stock TLS clients
//! (`SSL_CERT_FILE`/`SSL_CERT_DIR` and the proxy variables honoured as the SDK and reqwest
//! honour them). Roots compiled into a binary are as fresh as its build: rebuild to pick up
//! Mozilla's changes (`cargo update -p webpki-roots`).

use std::sync::{Arc, OnceLock};

/// Environment variable choosing the trusted roots: `webpki` (default) or `native`.
pub const ROOTS_ENV: &str = "CLAWLESS_TLS_ROOTS";

/// Which certificate authorities outbound HTTPS trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustRoots {
    /// Mozilla's roots compiled into the binary (`webpki-roots`): nothing read or parsed at start.
    Webpki,
    /// The operating system's trust store, through the stock SDK and reqwest clients.
    Native,
}

impl TrustRoots {
    /// Parses a [`ROOTS_ENV`] value (case-insensitive; unset or empty gives `default`).
    pub fn parse(value: Option<&str>, default: TrustRoots) -> Result<TrustRoots, String> {
        match value.map(str::trim).unwrap_or("") {
            "" => Ok(default),
            v if v.eq_ignore_ascii_case("webpki") => Ok(TrustRoots::Webpki),
            v if v.eq_ignore_ascii_case("native") => Ok(TrustRoots::Native),
            other => Err(format!("{ROOTS_ENV}={other:?}: expected \"webpki\" or \"native\"")),
        }
    }

    /// The choice in [`ROOTS_ENV`], `default` when unset. An unknown value is logged and gives
    /// `default`: a misspelt opt-in fails visibly (untrusted certificates), it never trusts more.
    pub fn from_env(default: TrustRoots) -> TrustRoots {
        let value = std::env::var(ROOTS_ENV).ok();
        TrustRoots::parse(value.as_deref(), default).unwrap_or_else(|e| {
            tracing::warn!(event = "tls_roots_invalid", error = %e, "using the default trusted roots");
            default
        })
    }
}

/// A rustls client configuration trusting Mozilla's compiled-in roots: TLS 1.2 and 1.3, aws-lc
/// as the crypto provider (as the AWS SDK uses), no client certificate. Building it parses
/// nothing: the trust anchors are static data.
pub fn webpki_client_config() -> rustls::ClientConfig {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("aws-lc supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// The process's one webpki configuration, built on first use and shared (the verifier and its
/// roots are behind `Arc`s: clones are cheap).
pub fn shared_webpki_config() -> &'static rustls::ClientConfig {
    static CONFIG: OnceLock<rustls::ClientConfig> = OnceLock::new();
    CONFIG.get_or_init(webpki_client_config)
}

/// A reqwest client builder for the channel APIs, trusting the roots [`ROOTS_ENV`] chooses
/// (webpki by default).
pub fn reqwest_builder() -> reqwest::ClientBuilder {
    reqwest_builder_with(TrustRoots::from_env(TrustRoots::Webpki))
}

/// A reqwest client builder trusting `roots`.
pub fn reqwest_builder_with(roots: TrustRoots) -> reqwest::ClientBuilder {
    match roots {
        TrustRoots::Webpki => reqwest::Client::builder().tls_backend_preconfigured(shared_webpki_config().clone()),
        TrustRoots::Native => reqwest::Client::builder(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_parse() {
        use TrustRoots::*;
        assert_eq!(TrustRoots::parse(None, Webpki), Ok(Webpki));
        assert_eq!(TrustRoots::parse(Some(""), Native), Ok(Native));
        assert_eq!(TrustRoots::parse(Some(" Native "), Webpki), Ok(Native));
        assert_eq!(TrustRoots::parse(Some("WEBPKI"), Native), Ok(Webpki));
        assert!(TrustRoots::parse(Some("os"), Webpki).is_err());
    }

    #[test]
    fn the_webpki_config_trusts_mozillas_roots() {
        let config = shared_webpki_config();
        assert!(webpki_roots::TLS_SERVER_ROOTS.len() > 100);
        // Both clients build from it (reqwest recognises the preconfigured rustls backend).
        reqwest_builder_with(TrustRoots::Webpki).build().expect("reqwest accepts the config");
        reqwest_builder_with(TrustRoots::Native).build().expect("stock reqwest");
        assert!(config.alpn_protocols.is_empty());
    }
}
