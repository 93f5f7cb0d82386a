//! `web_search` and `web_fetch`.
//!
//! `web_fetch` reaches public addresses only: the host is resolved first and refused if any of
//! its addresses is private, loopback, link-local (the instance metadata service included),
//! CGNAT, multicast, reserved or otherwise not publicly routable, IPv4-mapped and NAT64 forms
//! included. The request then goes to the vetted addresses only (a DNS override on the client,
//! so a second lookup cannot swap them), without proxies, redirects followed by hand and each
//! hop vetted again. Responses are cut at 1 MiB and 20 s.
//!
//! `web_search` calls the operator's search adapter at `CLAWLESS_WEB_SEARCH_URL` (operator
//! configuration, so exempt from the address rule). The contract an adapter implements:
//!
//! ```text
//! GET {search_url}?q=<url-encoded query>&count=<1..10>
//! 200 OK, Content-Type: application/json
//! {"results": [{"title": "…", "url": "https://…", "snippet": "…"}, …]}
//! ```
//!
//! Extra fields are ignored; missing ones are read as empty; at most `count` results are used.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Url;
use schemars::JsonSchema;
use serde::Deserialize;

use super::{ToolContext, ToolError, ToolName, TypedTool, truncate_output};
use crate::untrusted::{self, Kind};

/// Most response bytes read.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// Time limit of one `web_fetch` (all hops) or `web_search`.
pub const WEB_TIMEOUT: Duration = Duration::from_secs(20);
/// Most redirects `web_fetch` follows.
pub const MAX_REDIRECTS: usize = 5;
/// Longest URL accepted, in bytes.
pub const MAX_URL_BYTES: usize = 2048;
/// Longest search query, in characters.
pub const MAX_QUERY_CHARS: usize = 500;
const USER_AGENT: &str = concat!("clawless-agent/", env!("CARGO_PKG_VERSION"));

pub struct WebSearch;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebSearchInput {
    /// What to search for.
    #[schemars(length(min = 1, max = MAX_QUERY_CHARS))]
    pub query: String,
    /// How many results to return.
    #[schemars(range(min = 1, max = MAX_RESULTS), extend("default" = DEFAULT_RESULTS))]
    pub max_results: Option<u64>,
}

/// Most results one search may ask for.
const MAX_RESULTS: u64 = 10;
const DEFAULT_RESULTS: u64 = 5;

#[async_trait]
impl TypedTool for WebSearch {
    type Input = WebSearchInput;

    fn name(&self) -> ToolName {
        ToolName::WebSearch
    }

    fn description(&self) -> String {
        "Search the web. Returns a numbered list of results (title, URL, snippet); use `web_fetch` to read a page."
            .into()
    }

    async fn run(&self, ctx: &ToolContext, input: WebSearchInput) -> Result<String, ToolError> {
        let Some(search_url) = ctx.web.search_url.as_deref() else {
            return Err(ToolError::Failed("web search is not configured on this platform".into()));
        };
        let query = input.query.trim();
        if query.is_empty() {
            return Err(ToolError::InvalidInput("`query` is empty".into()));
        }
        if query.chars().count() > MAX_QUERY_CHARS {
            return Err(ToolError::InvalidInput(format!("`query` is longer than {MAX_QUERY_CHARS} characters")));
        }
        let count = match input.max_results.unwrap_or(DEFAULT_RESULTS) {
            n @ 1..=MAX_RESULTS => n as usize,
            _ => {
                return Err(ToolError::InvalidInput(format!(
                    "`max_results` must be a whole number from 1 to {MAX_RESULTS}"
                )));
            }
        };
        let mut url = Url::parse(search_url)
            .map_err(|_| ToolError::Failed("web search is misconfigured on this platform".into()))?;
        url.query_pairs_mut().append_pair("q", query).append_pair("count", &count.to_string());

        let client = reqwest::Client::builder()
            .timeout(WEB_TIMEOUT)
            .user_agent(USER_AGENT)
            .build()
            .map_err(|_| ToolError::Failed("web search is not available".into()))?;
        let fetched = tokio::time::timeout(WEB_TIMEOUT, async {
            let mut response = client.get(url).send().await.map_err(|e| search_error(&e))?;
            let status = response.status();
            if !status.is_success() {
                return Err(ToolError::Failed(format!("the search service answered {status}")));
            }
            read_limited(&mut response).await.map_err(|e| search_error(&e))
        })
        .await
        .map_err(|_| ToolError::Failed(format!("the search timed out after {} s", WEB_TIMEOUT.as_secs())))??;
        let body: SearchResponse = serde_json::from_slice(&fetched.bytes).map_err(|_| {
            ToolError::Failed("the search service returned something that is not search results".into())
        })?;
        Ok(truncate_output(&format_results(query, &body.results, count)))
    }
}

#[derive(Debug, Deserialize)]
struct SearchResponse {
    #[serde(default)]
    results: Vec<SearchResult>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SearchResult {
    title: String,
    url: String,
    snippet: String,
}

/// The results as a numbered list, in one untrusted block (titles and snippets are the web's).
fn format_results(query: &str, results: &[SearchResult], count: usize) -> String {
    if results.is_empty() {
        return format!("No results for \"{}\".", untrusted::escape(query));
    }
    let mut out = String::new();
    for (i, r) in results.iter().take(count).enumerate() {
        let title = one_line(&r.title);
        out.push_str(&format!("{}. {}\n   {}\n", i + 1, if title.is_empty() { "(untitled)" } else { &title }, r.url));
        let snippet = one_line(&r.snippet);
        if !snippet.is_empty() {
            out.push_str(&format!("   {snippet}\n"));
        }
    }
    untrusted::wrap(Kind::WebSearchResults, &[("query", query)], out.trim_end())
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn search_error(e: &reqwest::Error) -> ToolError {
    let why = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    ToolError::Failed(format!("the search service is not reachable ({why})"))
}

pub struct WebFetch;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebFetchInput {
    /// An absolute http:// or https:// URL.
    #[schemars(length(min = 1, max = MAX_URL_BYTES))]
    pub url: String,
}

#[async_trait]
impl TypedTool for WebFetch {
    type Input = WebFetchInput;

    fn name(&self) -> ToolName {
        ToolName::WebFetch
    }

    fn description(&self) -> String {
        "Fetch a public web page or file over http(s) and return its status, content type and text (HTML is \
         reduced to plain text). Private, local and internal addresses are refused. At most 5 redirects, 1 MiB and \
         20 seconds; long text is cut in the middle."
            .into()
    }

    async fn run(&self, ctx: &ToolContext, input: WebFetchInput) -> Result<String, ToolError> {
        let raw = input.url.trim();
        if raw.len() > MAX_URL_BYTES {
            return Err(ToolError::InvalidInput(format!("`url` is longer than {MAX_URL_BYTES} bytes")));
        }
        let url = Url::parse(raw).map_err(|e| ToolError::InvalidInput(format!("`url` is not a valid URL: {e}")))?;
        tokio::time::timeout(WEB_TIMEOUT, fetch(&ctx.web, url))
            .await
            .map_err(|_| ToolError::Failed(format!("the fetch timed out after {} s", WEB_TIMEOUT.as_secs())))?
    }
}

/// Fetches `url`, following redirects by hand so that every hop is vetted.
async fn fetch(settings: &WebSettings, mut url: Url) -> Result<String, ToolError> {
    for _ in 0..=MAX_REDIRECTS {
        let (host, addrs) = vet(settings, &url).await?;
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve the name again, out of reach of the vetting.
            .no_proxy()
            .timeout(WEB_TIMEOUT)
            .user_agent(USER_AGENT);
        if let Some(host) = &host {
            builder = builder.resolve_to_addrs(host, &addrs);
        }
        let client = builder.build().map_err(|_| ToolError::Failed("the web client is not available".into()))?;
        let mut response = client.get(url.clone()).send().await.map_err(|e| fetch_error(&url, &e))?;
        let status = response.status();
        if status.is_redirection()
            && let Some(location) = response.headers().get(reqwest::header::LOCATION)
        {
            let location = location
                .to_str()
                .map_err(|_| ToolError::Failed(format!("{status} with an unreadable Location header")))?;
            url = url
                .join(location)
                .map_err(|_| ToolError::Failed(format!("{status} to an invalid location `{}`", shorten(location))))?;
            continue;
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = read_limited(&mut response).await.map_err(|e| fetch_error(&url, &e))?;
        return Ok(truncate_output(&describe(&url, status, &content_type, &body)));
    }
    Err(ToolError::Failed(format!("too many redirects (more than {MAX_REDIRECTS})")))
}

/// Checks the URL's scheme and every address its host resolves to. Returns the host name to
/// pin (none for an IP literal) and the vetted addresses.
async fn vet(settings: &WebSettings, url: &Url) -> Result<(Option<String>, Vec<SocketAddr>), ToolError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ToolError::Refused(format!("only http and https URLs can be fetched, not `{}:`", url.scheme())));
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| ToolError::InvalidInput("the URL has no host".into()))?;
    let port = url.port_or_known_default().unwrap_or(80);
    let literal = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let (name, addrs) = match literal.parse::<IpAddr>() {
        Ok(ip) => (None, vec![SocketAddr::new(ip, port)]),
        Err(_) => {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
                .await
                .map_err(|_| ToolError::Failed(format!("could not resolve `{}`", shorten(host))))?
                .collect();
            (Some(host.to_owned()), addrs)
        }
    };
    if addrs.is_empty() {
        return Err(ToolError::Failed(format!("could not resolve `{}`", shorten(host))));
    }
    if let Some(bad) = addrs.iter().find(|a| !settings.may_connect(a)) {
        return Err(ToolError::Refused(format!(
            "`{}` resolves to {}, a private, local or otherwise non-public address; only public web \
             addresses can be fetched",
            shorten(host),
            bad.ip()
        )));
    }
    Ok((name, addrs))
}

/// Whether `ip` is not on the public internet: private, loopback, link-local, CGNAT, multicast,
/// broadcast, reserved, documentation, and the IPv6 forms that embed such an IPv4 address.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_forbidden_v4(v4),
        IpAddr::V6(v6) => is_forbidden_v6(v6),
    }
}

fn is_forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    a == 0 // "this network", 0.0.0.0 included
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 169 && b == 254) // link-local, the metadata service included
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // documentation
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 192 && b == 168)
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // documentation
        || (a == 203 && b == 0 && c == 113) // documentation
        || a >= 224 // multicast, reserved, broadcast
}

fn is_forbidden_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let embedded_v4 = |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_forbidden_v4(v4);
    }
    if s[..4] == [0; 4] {
        // ::, ::1, IPv4-compatible ::a.b.c.d and IPv4-translated ::ffff:0:a.b.c.d
        return true;
    }
    if s[0] == 0x64 && s[1] == 0xff9b {
        // NAT64: 64:ff9b::/96 maps an IPv4 address; 64:ff9b:1::/48 is for local use.
        return s[2] != 0 || s[3] != 0 || s[4] != 0 || s[5] != 0 || is_forbidden_v4(embedded_v4(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        // 6to4 carries an IPv4 address in bits 16..48.
        return is_forbidden_v4(embedded_v4(s[1], s[2]));
    }
    (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (s[0] & 0xff00) == 0xff00 // multicast
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x2001 && s[1] == 0) // Teredo
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // discard-only
}

struct Body {
    bytes: Vec<u8>,
    truncated: bool,
}

async fn read_limited(response: &mut reqwest::Response) -> Result<Body, reqwest::Error> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_RESPONSE_BYTES - bytes.len();
        if chunk.len() > room {
            bytes.extend_from_slice(&chunk[..room]);
            return Ok(Body { bytes, truncated: true });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Body { bytes, truncated: false })
}

/// The fetched response as the model sees it: our status line, then the page (and what the
/// server said about it: its content type and the final URL) in one untrusted block.
fn describe(url: &Url, status: reqwest::StatusCode, content_type: &str, body: &Body) -> String {
    let mut out = format!("status: {status}\n");
    let shown_type = if content_type.is_empty() { "(none)" } else { content_type };
    let ct = content_type.to_ascii_lowercase();
    let textual = ct.is_empty()
        || ct.starts_with("text/")
        || ["json", "xml", "javascript", "ecmascript", "csv", "yaml", "x-www-form-urlencoded"]
            .iter()
            .any(|t| ct.contains(t));
    if !textual || body.bytes.contains(&0) {
        out.push_str(&format!(
            "content-type: {}\nurl: {}\n\n(binary content, {} bytes, not shown)",
            untrusted::escape_attribute(shown_type),
            untrusted::escape_attribute(url.as_str()),
            body.bytes.len()
        ));
        return out;
    }
    let text = String::from_utf8_lossy(&body.bytes);
    let text = if ct.contains("html") || (ct.is_empty() && looks_like_html(&text)) {
        html_to_text(&text)
    } else {
        text.into_owned()
    };
    out.push_str(&untrusted::wrap(Kind::WebPage, &[("url", url.as_str()), ("content_type", shown_type)], text.trim()));
    if body.truncated {
        out.push_str(&format!("\n[response cut at {MAX_RESPONSE_BYTES} bytes]"));
    }
    out
}

fn looks_like_html(text: &str) -> bool {
    let head: String = text.chars().take(512).collect::<String>().to_ascii_lowercase();
    head.contains("<html") || head.contains("<!doctype html")
}

/// HTML reduced roughly to text: scripts, styles and comments dropped, block tags as line
/// breaks, other tags removed, common entities decoded, blank runs collapsed.
pub fn html_to_text(html: &str) -> String {
    let lower = html.to_ascii_lowercase();
    let mut out = String::with_capacity(html.len() / 2);
    let mut i = 0;
    while i < html.len() {
        let rest = &html[i..];
        let rest_lower = &lower[i..];
        if rest_lower.starts_with("<!--") {
            i += rest_lower.find("-->").map_or(rest.len(), |e| e + 3);
        } else if let Some(tag) =
            ["script", "style", "noscript", "template"].iter().find(|t| rest_lower.starts_with(&format!("<{t}")))
        {
            let close = format!("</{tag}");
            i += match rest_lower.find(&close) {
                Some(e) => rest_lower[e..].find('>').map_or(rest.len(), |g| e + g + 1),
                None => rest.len(),
            };
        } else if rest.starts_with('<') {
            let end = rest.find('>').map_or(rest.len(), |g| g + 1);
            let name: String = rest_lower[1..end.min(rest.len())]
                .trim_start_matches('/')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            if matches!(
                name.as_str(),
                "br" | "p"
                    | "div"
                    | "li"
                    | "tr"
                    | "h1"
                    | "h2"
                    | "h3"
                    | "h4"
                    | "h5"
                    | "h6"
                    | "section"
                    | "article"
                    | "header"
                    | "footer"
                    | "table"
                    | "ul"
                    | "ol"
                    | "blockquote"
                    | "pre"
                    | "title"
            ) {
                out.push('\n');
            }
            i += end;
        } else if rest.starts_with('&') {
            let (text, used) = decode_entity(rest);
            out.push_str(&text);
            i += used;
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
    }
    let mut lines = Vec::new();
    let mut blank = false;
    for line in out.lines() {
        let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.is_empty() {
            if !blank && !lines.is_empty() {
                lines.push(String::new());
            }
            blank = true;
        } else {
            lines.push(line);
            blank = false;
        }
    }
    lines.join("\n").trim().to_owned()
}

/// The text of the entity at the start of `s` and how many bytes it used (`&` alone if unknown).
fn decode_entity(s: &str) -> (String, usize) {
    let Some(end) = s.char_indices().take(12).find(|(_, c)| *c == ';').map(|(i, _)| i) else {
        return ("&".into(), 1);
    };
    let name = &s[1..end];
    let decoded = match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some(' '),
        _ => name
            .strip_prefix("#x")
            .or_else(|| name.strip_prefix("#X"))
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
            .and_then(char::from_u32),
    };
    match decoded {
        Some(c) => (c.to_string(), end + 1),
        None => ("&".into(), 1),
    }
}

fn fetch_error(url: &Url, e: &reqwest::Error) -> ToolError {
    let why = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the response could not be read"
    } else {
        "the request failed"
    };
    ToolError::Failed(format!("could not fetch {}: {why}", url.host_str().map(shorten).unwrap_or_default()))
}

fn shorten(s: &str) -> String {
    s.chars().take(200).collect()
}

/// Settings of the web tools.
#[derive(Debug, Clone, Default)]
pub struct WebSettings {
    /// A search API (`CLAWLESS_WEB_SEARCH_URL`); unset: `web_search` says it is not configured.
    pub search_url: Option<String>,
    /// Non-public addresses (IP and port) `web_fetch` may reach anyway. For tests against a
    /// local mock server only; always empty in production.
    pub allowed_private: Vec<SocketAddr>,
}

impl WebSettings {
    pub fn from_config(config: &crate::config::AgentConfig) -> Self {
        Self { search_url: config.web_search_url.clone(), allowed_private: Vec::new() }
    }

    /// Whether `web_fetch` may connect to `addr`.
    pub fn may_connect(&self, addr: &SocketAddr) -> bool {
        !is_forbidden(addr.ip()) || self.allowed_private.contains(addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_public_addresses_are_forbidden() {
        for ip in [
            "0.0.0.0",
            "10.1.2.3",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "192.0.0.170",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
        ] {
            assert!(is_forbidden(ip.parse().unwrap()), "{ip} should be forbidden");
        }
        for ip in
            ["1.1.1.1", "8.8.8.8", "100.128.0.1", "172.32.0.1", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
        {
            assert!(!is_forbidden(ip.parse().unwrap()), "{ip} is public");
        }
    }

    #[test]
    fn allowance_is_per_address_and_port() {
        let allowed: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let s = WebSettings { allowed_private: vec![allowed], ..WebSettings::default() };
        assert!(s.may_connect(&allowed));
        assert!(!s.may_connect(&"127.0.0.1:8081".parse().unwrap()));
        assert!(!WebSettings::default().may_connect(&allowed));
    }

    #[test]
    fn html_becomes_text() {
        let html = "<html><head><title>T</title><style>p{color:red}</style><script>var x = '<p>';</script></head>\
                    <body><!-- hidden --><h1>Hello&nbsp;&amp; welcome</h1><p>One <b>two</b></p><p>&#x41;&#66;&lt;</p></body></html>";
        assert_eq!(html_to_text(html), "T\n\nHello & welcome\n\nOne two\n\nAB<");
    }
}
