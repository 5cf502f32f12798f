//! A browser-like client for the LAMPI Django site (DESIGN section 3): log in through Django's CSRF-protected form,
//! keep the session cookie, view pages. One [`Session`] is one virtual user with its own cookie jar.
//!
//! Each call is one HTTP request (redirects of page views followed, as a browser and Locust do), so the load runner
//! can time every request by name; failures come back as a [`WebError`] whose [`WebError::name`] is a short, stable
//! label for counting (`"login: wrong password"`, `"HTTP 500"`, `"timeout"`, `"connection refused"`), never fatal.
//!
//! A site going down is seen three ways, and they are named apart so a failure count tells "site down" from "site
//! dropped the connection": `connection refused` (nothing listens on the port), `connection reset` (the peer reset
//! the connection: a server killed with requests on it, or a listener whose process is dying), and `connection
//! closed before response` (the peer closed cleanly, EOF, before any response came).
//!
//! A session opens its own connection, as a browser does, and keeps it alive for its next requests. On `http://`
//! that is hyper's low-level HTTP/1.1 client on one connection ([`conn`]), driven in the caller's task: a load
//! generator's sessions then cost a request's own work only (reqwest's pool, connection task and per-request layers
//! were most of its CPU per request). `https://` goes through reqwest with rustls. Either way the cookies live in one jar per session.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, ACCEPT, CONTENT_TYPE, COOKIE, HOST, SET_COOKIE, USER_AGENT as USER_AGENT_HEADER};
use hyper::Method;
use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::{LOCATION, REFERER};
use reqwest::redirect::Policy;
use reqwest::Url;

mod conn;

#[derive(Debug, Clone, thiserror::Error)]
pub enum WebError {
    #[error("connection refused by {0}")]
    Refused(String),
    #[error("connection reset by {0}")]
    Reset(String),
    #[error("{0} closed the connection before a response")]
    Closed(String),
    #[error("timed out")]
    Timeout,
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("HTTP {status} from {path}")]
    Status { status: u16, path: String },
    #[error("wrong username or password (the login form came back)")]
    WrongPassword,
    #[error("the login page has no csrfmiddlewaretoken field")]
    NoCsrfToken,
    #[error("not logged in: {path} redirected to the login page")]
    NotLoggedIn { path: String },
    #[error("too many redirects from {0}")]
    Redirects(String),
    #[error("{0}")]
    Other(String),
}

impl WebError {
    /// A short label for failure counts (no user names, ids or ports in it, so failures group).
    pub fn name(&self) -> String {
        match self {
            WebError::Refused(_) => "connection refused".into(),
            WebError::Reset(_) => "connection reset".into(),
            WebError::Closed(_) => "connection closed before response".into(),
            WebError::Timeout => "timeout".into(),
            WebError::Connect(_) => "connect error".into(),
            WebError::Status { status, .. } => format!("HTTP {status}"),
            WebError::WrongPassword => "login: wrong password".into(),
            WebError::NoCsrfToken => "login: no CSRF token".into(),
            WebError::NotLoggedIn { .. } => "not logged in".into(),
            WebError::Redirects(_) => "too many redirects".into(),
            WebError::Other(_) => "error".into(),
        }
    }

    fn from_reqwest(e: reqwest::Error, base: &Url) -> WebError {
        if e.is_timeout() {
            return WebError::Timeout;
        }
        use std::io::ErrorKind;
        let peer = || base.authority().to_string();
        let mut src: Option<&dyn std::error::Error> = Some(&e);
        while let Some(s) = src {
            if let Some(io) = s.downcast_ref::<std::io::Error>() {
                match io.kind() {
                    ErrorKind::ConnectionRefused => return WebError::Refused(peer()),
                    ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
                        return WebError::Reset(peer())
                    }
                    ErrorKind::UnexpectedEof => return WebError::Closed(peer()),
                    ErrorKind::TimedOut => return WebError::Timeout,
                    _ => {}
                }
            }
            // hyper reports an EOF before the response as an "incomplete message", with no io::Error under it.
            if s.downcast_ref::<hyper::Error>().is_some_and(|h| h.is_incomplete_message()) {
                return WebError::Closed(peer());
            }
            src = s.source();
        }
        if e.is_connect() {
            WebError::Connect(e.to_string())
        } else {
            WebError::Other(e.to_string())
        }
    }
}

/// A successful response: status and body size (what load statistics need).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub status: u16,
    pub bytes: usize,
}

/// The CSRF token of a login form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token(pub String);

/// One virtual user: a cookie jar and its connection to the site.
pub struct Session {
    base: Url,
    jar: Arc<Jar>,
    timeout: Duration,
    transport: Transport,
}

/// How a session reaches the site.
enum Transport {
    /// `http://`: [`conn`], HTTP/1.1 on the session's own kept-alive connection, driven in the session's task.
    /// `addr` is what to connect to, `host` the `Host` header; the connection is taken out for a request and put
    /// back after it (a session makes one request at a time).
    Plain { addr: String, host: HeaderValue, conn: Mutex<Option<conn::Conn>> },
    /// `https://`: reqwest with rustls and the process's shared TLS configuration, the same jar as its cookie store.
    Tls(reqwest::Client),
}

/// One request as the session's pages make it.
struct Request<'a> {
    url: &'a Url,
    /// A form to POST (`application/x-www-form-urlencoded`), with its page as the referer; else a GET.
    form: Option<&'a [(&'a str, &'a str)]>,
}

/// A response: status, where it redirects to, the body.
struct Reply {
    status: u16,
    location: Option<String>,
    body: Vec<u8>,
}

/// Finds `<input ... name="csrfmiddlewaretoken" value="...">` in a page.
pub fn csrf_token(html: &str) -> Option<Token> {
    let at = html.find("name=\"csrfmiddlewaretoken\"")?;
    let tag_start = html[..at].rfind('<')?;
    let tag_end = at + html[at..].find('>')?;
    let tag = &html[tag_start..tag_end];
    let v = tag.find("value=\"")? + 7;
    let len = tag[v..].find('"')?;
    let token = &tag[v..v + len];
    (!token.is_empty()).then(|| Token(token.to_string()))
}

/// The TLS client configuration every `https://` session shares. The platform verifier reads and parses the
/// system's CA store when it is made; reqwest makes one per client, which for a load generator opening a browser (a
/// client with its own cookie jar and connections) per session was a third of its CPU. Built once per process here,
/// on the first `https://` session, and cloned into each client (a clone shares the verifier and the provider).
fn tls() -> Result<rustls::ClientConfig, WebError> {
    static TLS: OnceLock<Result<rustls::ClientConfig, String>> = OnceLock::new();
    let built = TLS.get_or_init(|| {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = rustls_platform_verifier::Verifier::new(provider.clone()).map_err(|e| e.to_string())?;
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()]; // this build speaks HTTP/1.1 only, as reqwest would say
        Ok(config)
    });
    built.clone().map_err(|e| WebError::Other(format!("TLS set-up: {e}")))
}

/// Makes what sessions of `base` share that is slow to make, so that no session makes it on a runtime worker: for
/// `https://`, the TLS configuration (the platform verifier reads and parses the system's CA store, which took
/// seconds in a debug build and, on the load generator's one worker, stopped every lamp meanwhile). Blocking; a
/// no-op for `http://`. Its error is what every session of `base` would then fail with.
pub fn prepare(base: &Url) -> Result<(), WebError> {
    match base.scheme() {
        "http" => Ok(()),
        _ => tls().map(drop),
    }
}

const USER_AGENT: &str = concat!("lampi-agent/", env!("CARGO_PKG_VERSION"));

impl Session {
    pub fn new(base: &Url, timeout: Duration) -> Result<Session, WebError> {
        let jar = Arc::new(Jar::default());
        let transport = match base.scheme() {
            "http" => {
                let host = base.host_str().ok_or_else(|| WebError::Other(format!("{base} has no host")))?;
                let port = base.port_or_known_default().unwrap_or(80);
                let addr = match base.host() {
                    Some(url::Host::Ipv6(ip)) => format!("[{ip}]:{port}"),
                    _ => format!("{host}:{port}"),
                };
                let host = HeaderValue::from_str(base.authority())
                    .map_err(|_| WebError::Other(format!("{base}: the host is not a header value")))?;
                Transport::Plain { addr, host, conn: Mutex::new(None) }
            }
            _ => Transport::Tls(
                reqwest::Client::builder()
                    .tls_backend_preconfigured(tls()?)
                    .cookie_provider(jar.clone())
                    .redirect(Policy::none())
                    .timeout(timeout)
                    .connect_timeout(timeout)
                    .user_agent(USER_AGENT)
                    .build()
                    .map_err(|e| WebError::Other(e.to_string()))?,
            ),
        };
        Ok(Session { base: base.clone(), jar, timeout, transport })
    }

    fn url(&self, path: &str) -> Url {
        self.base.join(path).unwrap_or_else(|_| self.base.clone())
    }

    /// One request and its response, within the session's timeout.
    async fn send(&self, req: Request<'_>) -> Result<Reply, WebError> {
        match &self.transport {
            Transport::Plain { addr, host, conn } => {
                tokio::time::timeout(self.timeout, self.plain(addr, host, conn, &req))
                    .await
                    .map_err(|_| WebError::Timeout)?
            }
            Transport::Tls(client) => {
                let r = match req.form {
                    Some(form) => client.post(req.url.clone()).header(REFERER, req.url.as_str()).form(form),
                    None => client.get(req.url.clone()),
                };
                let r = r.send().await.map_err(|e| WebError::from_reqwest(e, &self.base))?;
                let status = r.status().as_u16();
                let location = r.headers().get(LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string);
                let body = r.bytes().await.map_err(|e| WebError::from_reqwest(e, &self.base))?.to_vec();
                Ok(Reply { status, location, body })
            }
        }
    }

    /// A request over the kept-alive connection, or a new one. As a browser does, a request that fails on a reused
    /// connection before any byte of its response came (the site closed the idle connection meanwhile) is sent
    /// once more on a new connection.
    async fn plain(
        &self,
        addr: &str,
        host: &HeaderValue,
        slot: &Mutex<Option<conn::Conn>>,
        req: &Request<'_>,
    ) -> Result<Reply, WebError> {
        let cookie = self.jar.cookies(req.url);
        let target = &req.url[url::Position::BeforePath..url::Position::AfterQuery];
        let form = req.form.map(|f| url::form_urlencoded::Serializer::new(String::new()).extend_pairs(f).finish());
        let body = Bytes::from(form.clone().unwrap_or_default());
        let build = || {
            let mut r = hyper::Request::builder()
                .method(if form.is_some() { Method::POST } else { Method::GET })
                .uri(target)
                .header(HOST, host)
                .header(USER_AGENT_HEADER, HeaderValue::from_static(USER_AGENT))
                .header(ACCEPT, HeaderValue::from_static("*/*"));
            if let Some(c) = &cookie {
                r = r.header(COOKIE, c);
            }
            if form.is_some() {
                r = r
                    .header(REFERER, req.url.as_str())
                    .header(CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
            }
            r.body(Full::new(body.clone())).map_err(|e| WebError::Other(format!("request {target}: {e}")))
        };
        let kept = slot.lock().unwrap_or_else(|p| p.into_inner()).take().filter(conn::Conn::usable);
        let (mut conn, mut reused) = match kept {
            Some(c) => (c, true),
            None => (self.connect(addr).await?, false),
        };
        loop {
            match conn.exchange(build()?).await {
                Ok((head, body)) => {
                    self.jar.set_cookies(&mut head.headers().get_all(SET_COOKIE).iter(), req.url);
                    if conn.usable() {
                        *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(conn);
                    }
                    let location = head.headers().get(LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string);
                    return Ok(Reply { status: head.status().as_u16(), location, body: body.into() });
                }
                Err(conn::Failure::Io { any: false, .. }) if reused => {
                    conn = self.connect(addr).await?;
                    reused = false;
                }
                Err(conn::Failure::Io { err, any }) => return Err(self.io_error(err, any)),
                Err(conn::Failure::Protocol(why)) => {
                    return Err(WebError::Other(format!("{}: {why}", self.base.authority())))
                }
            }
        }
    }

    async fn connect(&self, addr: &str) -> Result<conn::Conn, WebError> {
        conn::Conn::open(addr).await.map_err(|e| match e.kind() {
            std::io::ErrorKind::ConnectionRefused => WebError::Refused(self.base.authority().to_string()),
            std::io::ErrorKind::TimedOut => WebError::Timeout,
            _ => WebError::Connect(format!("{addr}: {e}")),
        })
    }

    /// A socket's failure during a request, named as [`WebError::from_reqwest`] names reqwest's.
    fn io_error(&self, e: std::io::Error, any: bool) -> WebError {
        use std::io::ErrorKind;
        let peer = || self.base.authority().to_string();
        match e.kind() {
            ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
                WebError::Reset(peer())
            }
            ErrorKind::UnexpectedEof if !any => WebError::Closed(peer()),
            ErrorKind::TimedOut => WebError::Timeout,
            _ => WebError::Other(format!("{}: {e}", peer())),
        }
    }

    /// GET `/login/?next=/`: the form and its CSRF token (the `csrftoken` cookie, when the site sets one, is kept).
    pub async fn login_form(&self) -> Result<(Token, Page), WebError> {
        let url = self.url("/login/?next=/");
        let r = self.send(Request { url: &url, form: None }).await?;
        if r.status != 200 {
            return Err(WebError::Status { status: r.status, path: "/login/".into() });
        }
        let token = csrf_token(&String::from_utf8_lossy(&r.body)).ok_or(WebError::NoCsrfToken)?;
        Ok((token, Page { status: r.status, bytes: r.body.len() }))
    }

    /// POST the login form. Success is Django's 302 away from the login page; the form again (200) is a wrong
    /// password; 403 is a CSRF failure.
    pub async fn login_post(&self, token: &Token, username: &str, password: &str) -> Result<Page, WebError> {
        let url = self.url("/login/?next=/");
        let form =
            [("csrfmiddlewaretoken", token.0.as_str()), ("username", username), ("password", password), ("next", "/")];
        let r = self.send(Request { url: &url, form: Some(&form) }).await?;
        match (r.status, r.location) {
            (302 | 303, Some(loc)) if !loc.contains("/login/") => Ok(Page { status: r.status, bytes: r.body.len() }),
            (200, _) | (302 | 303, _) => Err(WebError::WrongPassword),
            (s, _) => Err(WebError::Status { status: s, path: "/login/".into() }),
        }
    }

    /// Both steps of a login.
    pub async fn login(&self, username: &str, password: &str) -> Result<(), WebError> {
        let (token, _) = self.login_form().await?;
        self.login_post(&token, username, password).await.map(|_| ())
    }

    /// GET a page, following up to 5 redirects; a redirect to the login page is a failure (not logged in).
    pub async fn page(&self, path: &str) -> Result<Page, WebError> {
        let mut url = self.url(path);
        for _ in 0..5 {
            let r = self.send(Request { url: &url, form: None }).await?;
            if (300..400).contains(&r.status) {
                let loc = r.location.as_deref().unwrap_or("");
                if loc.contains("/login/") {
                    return Err(WebError::NotLoggedIn { path: path.to_string() });
                }
                url = url.join(loc).map_err(|e| WebError::Other(e.to_string()))?;
                continue;
            }
            if !(200..300).contains(&r.status) {
                return Err(WebError::Status { status: r.status, path: path.to_string() });
            }
            return Ok(Page { status: r.status, bytes: r.body.len() });
        }
        Err(WebError::Redirects(path.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_session_shares_one_tls_configuration() {
        let a = tls().unwrap();
        let b = tls().unwrap();
        assert!(Arc::ptr_eq(&a.crypto_provider().clone(), &b.crypto_provider().clone()), "built once, then cloned");
        assert_eq!(a.alpn_protocols, vec![b"http/1.1".to_vec()]);
        let url = Url::parse("https://lampi.example.com/").unwrap();
        for _ in 0..3 {
            Session::new(&url, Duration::from_secs(1)).unwrap();
        }
    }

    /// A site on a real socket: connection `i` answers its requests with `conns[i]` in turn ("" closes without a
    /// reply), then closes, as a site closes an idle kept-alive connection. Returns the requests each received.
    fn site(conns: Vec<Vec<&'static str>>) -> (Url, std::thread::JoinHandle<Vec<Vec<String>>>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let peer = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for replies in conns {
                let (mut conn, _) = listener.accept().unwrap();
                let mut got = Vec::new();
                for reply in replies {
                    let mut req = Vec::new();
                    let mut byte = [0u8; 1];
                    while !req.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap() == 1 {
                        req.push(byte[0]);
                    }
                    let head = String::from_utf8_lossy(&req).to_lowercase();
                    let length = head.split("\r\ncontent-length: ").nth(1).and_then(|v| v.split('\r').next());
                    let mut body = vec![0u8; length.map_or(0, |n| n.parse().unwrap())];
                    conn.read_exact(&mut body).unwrap();
                    req.extend_from_slice(&body);
                    got.push(String::from_utf8_lossy(&req).into_owned());
                    if reply.is_empty() {
                        break;
                    }
                    conn.write_all(reply.as_bytes()).unwrap();
                }
                seen.push(got);
            }
            seen
        });
        (url, peer)
    }

    const SIZED: &str = "HTTP/1.1 200 OK\r\nSet-Cookie: sessionid=abc; Path=/\r\nContent-Length: 2\r\n\r\nok";
    const CHUNKED: &str = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nsecond\r\n0\r\n\r\n";

    #[tokio::test]
    async fn a_kept_alive_connection_the_site_closed_is_replaced_and_cookies_go_back() {
        let (url, peer) = site(vec![vec![SIZED], vec![CHUNKED]]);
        let s = Session::new(&url, Duration::from_secs(5)).unwrap();
        assert_eq!(s.page("/").await.unwrap(), Page { status: 200, bytes: 2 });
        assert_eq!(s.page("/lampi/").await.unwrap(), Page { status: 200, bytes: 6 }, "sent again on a new connection");
        let seen = peer.join().unwrap();
        assert_eq!(seen.len(), 2);
        assert!(seen[0][0].starts_with("GET / HTTP/1.1\r\n") && !seen[0][0].contains("cookie:"), "{}", seen[0][0]);
        assert!(seen[1][0].starts_with("GET /lampi/ HTTP/1.1\r\n"), "{}", seen[1][0]);
        assert!(seen[1][0].contains("\r\ncookie: sessionid=abc\r\n"), "the jar sends the cookie back: {}", seen[1][0]);
    }

    #[tokio::test]
    async fn requests_share_one_kept_alive_connection_and_a_post_carries_the_form() {
        let login = "HTTP/1.1 302 Found\r\nLocation: /\r\nContent-Length: 0\r\n\r\n";
        let (url, peer) = site(vec![vec![SIZED, CHUNKED, login]]);
        let s = Session::new(&url, Duration::from_secs(5)).unwrap();
        assert_eq!(s.page("/").await.unwrap(), Page { status: 200, bytes: 2 });
        assert_eq!(s.page("/lampi/?a=1").await.unwrap(), Page { status: 200, bytes: 6 });
        let posted = s.login_post(&Token("t0k".into()), "u", "p&w").await.unwrap();
        assert_eq!(posted, Page { status: 302, bytes: 0 });
        let seen = peer.join().unwrap();
        assert_eq!(seen.len(), 1, "one connection for all three: {seen:?}");
        let host = url.authority();
        assert!(seen[0][1].starts_with("GET /lampi/?a=1 HTTP/1.1\r\n"), "{}", seen[0][1]);
        let post = &seen[0][2];
        let form = "csrfmiddlewaretoken=t0k&username=u&password=p%26w&next=%2F";
        assert!(post.starts_with("POST /login/?next=/ HTTP/1.1\r\n"), "{post}");
        for header in [
            format!("host: {host}"),
            format!("user-agent: {USER_AGENT}"),
            "accept: */*".into(),
            "cookie: sessionid=abc".into(),
            format!("referer: http://{host}/login/?next=/"),
            "content-type: application/x-www-form-urlencoded".into(),
            format!("content-length: {}", form.len()),
        ] {
            assert!(post.contains(&format!("\r\n{header}\r\n")), "{header:?} in {post}");
        }
        assert!(post.ends_with(&format!("\r\n\r\n{form}")), "{post}");
    }

    #[tokio::test]
    async fn a_request_the_reused_connection_dropped_unanswered_is_sent_once_more() {
        let (url, peer) = site(vec![vec![SIZED, ""], vec![CHUNKED]]);
        let s = Session::new(&url, Duration::from_secs(5)).unwrap();
        assert_eq!(s.page("/").await.unwrap(), Page { status: 200, bytes: 2 });
        assert_eq!(s.page("/lampi/").await.unwrap(), Page { status: 200, bytes: 6 });
        let seen = peer.join().unwrap();
        assert!(seen[0][1].starts_with("GET /lampi/ ") && seen[1][0].starts_with("GET /lampi/ "), "{seen:?}");
    }

    #[tokio::test]
    async fn a_new_connection_dropped_unanswered_is_closed_before_response_and_not_sent_again() {
        let (url, peer) = site(vec![vec![""]]);
        let s = Session::new(&url, Duration::from_secs(5)).unwrap();
        let e = s.page("/").await.unwrap_err();
        assert_eq!(e.name(), "connection closed before response", "{e}");
        assert_eq!(peer.join().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_response_that_is_not_http_is_an_error_not_a_page() {
        let (url, peer) = site(vec![vec!["SSH-2.0-OpenSSH_9.2\r\n\r\n"]]);
        let s = Session::new(&url, Duration::from_secs(5)).unwrap();
        let e = s.page("/").await.unwrap_err();
        assert_eq!(e.name(), "error", "{e}");
        assert!(e.to_string().contains("not an HTTP/1.x response"), "{e}");
        peer.join().unwrap();
    }

    #[test]
    fn finds_djangos_csrf_field_in_any_attribute_order() {
        let a = r#"<form><input type="hidden" name="csrfmiddlewaretoken" value="abc123XYZ"></form>"#;
        assert_eq!(csrf_token(a), Some(Token("abc123XYZ".into())));
        let b = r#"<input value="t0k" type="hidden" name="csrfmiddlewaretoken">"#;
        assert_eq!(csrf_token(b), Some(Token("t0k".into())));
        assert_eq!(csrf_token("<input name=\"username\">"), None);
        assert_eq!(csrf_token(r#"<input name="csrfmiddlewaretoken" value="">"#), None);
    }

    #[test]
    fn failure_names_group_without_details() {
        assert_eq!(WebError::Status { status: 500, path: "/lampi/".into() }.name(), "HTTP 500");
        assert_eq!(WebError::Refused("127.0.0.1:1".into()).name(), "connection refused");
        assert_eq!(WebError::WrongPassword.name(), "login: wrong password");
    }
}
