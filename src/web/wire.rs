//! HTTP/1.1 on one plain TCP connection, as a browser's tab uses it: a request written in one piece, the response
//! read in the same task (no connection task, no pool, no per-request layers), the connection kept alive for the
//! session's next request. Parsing is pure ([`head`], [`body`]) so every response shape is unit-tested.
//!
//! It does what the Django site's responses need: status line and headers, a body by `Content-Length`, `chunked`
//! or until the close, `Connection: close` and HTTP/1.0, interim `1xx` responses skipped.

use std::io;

use reqwest::header::HeaderValue;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response's head: what a browser session acts on.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookies: Vec<HeaderValue>,
    /// The connection stays open after this response.
    pub keep_alive: bool,
    length: Option<usize>,
    chunked: bool,
}

/// How a read of a response ended without one.
#[derive(Debug)]
pub enum Failure {
    /// The socket failed (reset, refused, EOF as `UnexpectedEof`); `any` tells whether any response byte came.
    Io { err: io::Error, any: bool },
    /// The peer sent something that is not an HTTP/1.x response.
    Protocol(String),
}

/// The request's bytes: request line, `Host`, the session's headers, then the body (one write).
pub fn request(method: &str, target: &str, host: &str, headers: &[(&str, &[u8])], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + body.len());
    for part in [method, " ", target, " HTTP/1.1\r\nhost: ", host, "\r\n"] {
        out.extend_from_slice(part.as_bytes());
    }
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    if !body.is_empty() || method == "POST" {
        out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// Parses a response head at the start of `buf`: `Ok(None)` until the blank line has come, else the head and its
/// length in bytes.
pub fn head(buf: &[u8]) -> Result<Option<(Head, usize)>, String> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() > 64 * 1024 { Err("response head over 64 KiB".into()) } else { Ok(None) };
    };
    let text = std::str::from_utf8(&buf[..end]).map_err(|_| "response head is not UTF-8".to_string())?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let status = parts.next().and_then(|s| s.parse::<u16>().ok());
    let (Some(status), true) = (status, version.starts_with("HTTP/1.")) else {
        return Err(format!("not an HTTP/1.x status line: {:?}", status_line.chars().take(80).collect::<String>()));
    };
    let mut h = Head { status, keep_alive: version != "HTTP/1.0", ..Head::default() };
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { return Err(format!("bad header line {line:?}")) };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            h.length = Some(value.parse().map_err(|_| format!("bad Content-Length {value:?}"))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            h.chunked = value.rsplit(',').next().is_some_and(|v| v.trim().eq_ignore_ascii_case("chunked"));
        } else if name.eq_ignore_ascii_case("connection") {
            let has = |t: &str| value.split(',').any(|v| v.trim().eq_ignore_ascii_case(t));
            h.keep_alive = if has("close") { false } else { h.keep_alive || has("keep-alive") };
        } else if name.eq_ignore_ascii_case("location") {
            h.location = Some(value.to_string());
        } else if name.eq_ignore_ascii_case("set-cookie") {
            h.set_cookies.push(HeaderValue::from_str(value).map_err(|_| format!("bad Set-Cookie {value:?}"))?);
        }
    }
    if !h.chunked && h.length.is_none() {
        h.keep_alive = false; // the body runs to the close
    }
    Ok(Some((h, end + 4)))
}

/// The body after a head, from `buf` (which starts at the body): `Ok(None)` until it is complete, else the body and
/// how many bytes of `buf` it took. `closed`: the peer closed the connection (a body without a length ends there).
pub fn body(h: &Head, buf: &[u8], closed: bool) -> Result<Option<(Vec<u8>, usize)>, String> {
    if h.status < 200 || h.status == 204 || h.status == 304 {
        return Ok(Some((Vec::new(), 0)));
    }
    if h.chunked {
        return dechunk(buf);
    }
    match h.length {
        Some(n) if buf.len() >= n => Ok(Some((buf[..n].to_vec(), n))),
        Some(_) => Ok(None),
        None if closed => Ok(Some((buf.to_vec(), buf.len()))),
        None => Ok(None),
    }
}

fn dechunk(buf: &[u8]) -> Result<Option<(Vec<u8>, usize)>, String> {
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        let Some(eol) = buf[at..].windows(2).position(|w| w == b"\r\n") else { return Ok(None) };
        let line = std::str::from_utf8(&buf[at..at + eol]).map_err(|_| "bad chunk size line".to_string())?;
        let hex = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(hex, 16).map_err(|_| format!("bad chunk size {hex:?}"))?;
        at += eol + 2;
        if size == 0 {
            // Trailers, then the blank line.
            loop {
                let Some(eol) = buf[at..].windows(2).position(|w| w == b"\r\n") else { return Ok(None) };
                at += eol + 2;
                if eol == 0 {
                    return Ok(Some((out, at)));
                }
            }
        }
        if buf.len() < at + size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&buf[at..at + size]);
        at += size + 2;
    }
}

/// One open connection to the site and what has been read from it but not used yet.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub async fn open(addr: &str) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn { stream, buf: Vec::with_capacity(16 * 1024) })
    }

    /// Whether a kept-alive connection can still carry a request: the peer has not closed it (nor sent anything
    /// unasked) meanwhile. Costs no system call while the socket has no news.
    pub fn usable(&self) -> bool {
        matches!(self.stream.try_read(&mut [0u8; 1]), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// Writes `request` and reads one final response: its head and body.
    pub async fn exchange(&mut self, request: &[u8]) -> Result<(Head, Vec<u8>), Failure> {
        let io = |err, any| Failure::Io { err, any };
        self.stream.write_all(request).await.map_err(|e| io(e, false))?;
        loop {
            let (h, at) = loop {
                if let Some(parsed) = head(&self.buf).map_err(Failure::Protocol)? {
                    break parsed;
                }
                self.fill().await.map_err(|e| io(e, !self.buf.is_empty()))?;
            };
            let (body, used) = loop {
                if let Some(b) = body(&h, &self.buf[at..], false).map_err(Failure::Protocol)? {
                    break b;
                }
                match self.fill().await {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && h.length.is_none() && !h.chunked => {
                        break body(&h, &self.buf[at..], true).map_err(Failure::Protocol)?.unwrap_or_default();
                    }
                    Err(e) => return Err(io(e, true)),
                }
            };
            self.buf.drain(..at + used);
            if h.status >= 200 {
                return Ok((h, body));
            }
        }
    }

    /// Reads more; the peer's close is an `UnexpectedEof`.
    async fn fill(&mut self) -> io::Result<()> {
        self.buf.reserve(8 * 1024);
        match self.stream.read_buf(&mut self.buf).await? {
            0 => Err(io::ErrorKind::UnexpectedEof.into()),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_request_in_one_piece() {
        let r = request("POST", "/login/?next=/", "127.0.0.1:8000", &[("cookie", b"csrftoken=x")], b"a=1");
        let want = "POST /login/?next=/ HTTP/1.1\r\nhost: 127.0.0.1:8000\r\ncookie: csrftoken=x\r\ncontent-length: 3\r\n\r\na=1";
        assert_eq!(String::from_utf8(r).unwrap(), want);
        let g = request("GET", "/", "h", &[], b"");
        assert_eq!(g, b"GET / HTTP/1.1\r\nhost: h\r\n\r\n");
    }

    #[test]
    fn parses_djangos_heads() {
        assert_eq!(head(b"HTTP/1.1 200 OK\r\nContent-Len").unwrap(), None, "not complete yet");
        let raw = b"HTTP/1.1 302 Found\r\nLocation: /lampi/\r\nSet-Cookie: sessionid=abc; Path=/\r\n\
                    set-cookie: csrftoken=t; Path=/\r\nContent-Length: 0\r\n\r\nrest";
        let (h, n) = head(raw).unwrap().unwrap();
        assert_eq!((h.status, h.location.as_deref(), h.keep_alive, n), (302, Some("/lampi/"), true, raw.len() - 4));
        assert_eq!(
            h.set_cookies,
            vec![HeaderValue::from_static("sessionid=abc; Path=/"), "csrftoken=t; Path=/".parse().unwrap()]
        );
        let close = head(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n").unwrap().unwrap().0;
        assert!(!close.keep_alive);
        let old = head(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n").unwrap().unwrap().0;
        assert!(!old.keep_alive, "HTTP/1.0 closes unless it says keep-alive");
        let to_close = head(b"HTTP/1.1 200 OK\r\n\r\n").unwrap().unwrap().0;
        assert!(!to_close.keep_alive, "a body without a length runs to the close");
        assert!(head(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
        assert!(head(b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n").is_err());
        assert!(head(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").is_err());
    }

    #[test]
    fn bodies_by_length_chunks_or_close() {
        let h = |raw: &[u8]| head(raw).unwrap().unwrap().0;
        let sized = h(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(body(&sized, b"hel", false).unwrap(), None);
        assert_eq!(body(&sized, b"helloGET", false).unwrap(), Some((b"hello".to_vec(), 5)));
        let chunked = h(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        let raw = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\nnext";
        assert_eq!(body(&chunked, raw, false).unwrap(), Some((b"hello, world".to_vec(), raw.len() - 4)));
        for cut in 0..raw.len() - 4 {
            assert_eq!(body(&chunked, &raw[..cut], false).unwrap(), None, "cut at {cut}");
        }
        assert!(body(&chunked, b"zz\r\n", false).is_err());
        let open = h(b"HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(body(&open, b"abc", false).unwrap(), None);
        assert_eq!(body(&open, b"abc", true).unwrap(), Some((b"abc".to_vec(), 3)));
        let none = h(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n");
        assert_eq!(body(&none, b"", false).unwrap(), Some((Vec::new(), 0)));
    }
}
