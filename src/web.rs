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

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::redirect::Policy;
use reqwest::{StatusCode, Url};

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

/// One virtual user: a cookie jar and a connection pool.
pub struct Session {
    client: reqwest::Client,
    base: Url,
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

/// The TLS client configuration every session shares. The platform verifier reads and parses the system's CA
/// store when it is made; reqwest makes one per client, which for a load generator opening a browser (a client
/// with its own cookie jar and connections) per session was a third of its CPU. Built once per process here and
/// cloned into each client (a clone shares the verifier and the crypto provider).
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

impl Session {
    pub fn new(base: &Url, timeout: Duration) -> Result<Session, WebError> {
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls()?)
            .cookie_provider(Arc::new(reqwest::cookie::Jar::default()))
            .redirect(Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("lampi-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| WebError::Other(e.to_string()))?;
        Ok(Session { client, base: base.clone() })
    }

    fn url(&self, path: &str) -> Url {
        self.base.join(path).unwrap_or_else(|_| self.base.clone())
    }

    /// GET `/login/?next=/`: the form and its CSRF token (the `csrftoken` cookie, when the site sets one, is kept).
    pub async fn login_form(&self) -> Result<(Token, Page), WebError> {
        let url = self.url("/login/?next=/");
        let r = self.client.get(url).send().await.map_err(|e| WebError::from_reqwest(e, &self.base))?;
        let status = r.status();
        if status != StatusCode::OK {
            return Err(WebError::Status { status: status.as_u16(), path: "/login/".into() });
        }
        let body = r.text().await.map_err(|e| WebError::from_reqwest(e, &self.base))?;
        let token = csrf_token(&body).ok_or(WebError::NoCsrfToken)?;
        Ok((token, Page { status: status.as_u16(), bytes: body.len() }))
    }

    /// POST the login form. Success is Django's 302 away from the login page; the form again (200) is a wrong
    /// password; 403 is a CSRF failure.
    pub async fn login_post(&self, token: &Token, username: &str, password: &str) -> Result<Page, WebError> {
        let url = self.url("/login/?next=/");
        let form =
            [("csrfmiddlewaretoken", token.0.as_str()), ("username", username), ("password", password), ("next", "/")];
        let r = self
            .client
            .post(url.clone())
            .header(reqwest::header::REFERER, url.as_str())
            .form(&form)
            .send()
            .await
            .map_err(|e| WebError::from_reqwest(e, &self.base))?;
        let status = r.status();
        let location = r.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string);
        let bytes = r.bytes().await.map_err(|e| WebError::from_reqwest(e, &self.base))?.len();
        match (status.as_u16(), location) {
            (302 | 303, Some(loc)) if !loc.contains("/login/") => Ok(Page { status: status.as_u16(), bytes }),
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
            let r = self.client.get(url.clone()).send().await.map_err(|e| WebError::from_reqwest(e, &self.base))?;
            let status = r.status();
            if status.is_redirection() {
                let loc = r.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("");
                if loc.contains("/login/") {
                    return Err(WebError::NotLoggedIn { path: path.to_string() });
                }
                url = url.join(loc).map_err(|e| WebError::Other(e.to_string()))?;
                continue;
            }
            let bytes = r.bytes().await.map_err(|e| WebError::from_reqwest(e, &self.base))?.len();
            if !status.is_success() {
                return Err(WebError::Status { status: status.as_u16(), path: path.to_string() });
            }
            return Ok(Page { status: status.as_u16(), bytes });
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
