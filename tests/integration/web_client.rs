//! The Django client against the real test site: login (with and without a csrftoken cookie), pages, failures.

use std::time::Duration;

use lampi_agent::web::{Session, WebError};

use crate::support::django::{DjangoSite, SiteOptions};

fn url(site: &DjangoSite) -> reqwest::Url {
    reqwest::Url::parse(&site.base_url()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_then_pages_as_a_browser_would() {
    for csrf_use_sessions in [false, true] {
        let site = DjangoSite::start(SiteOptions { users: 3, csrf_use_sessions, ..Default::default() });
        let s = Session::new(&url(&site), Duration::from_secs(5)).unwrap();
        assert!(matches!(s.page("/lampi/").await, Err(WebError::NotLoggedIn { .. })));
        s.login("user_000001", "100000_resu")
            .await
            .unwrap_or_else(|e| panic!("csrf_use_sessions={csrf_use_sessions}: {e}"));
        let list = s.page("/").await.unwrap(); // "/" redirects to /lampi/
        assert_eq!(list.status, 200);
        assert!(list.bytes > 0);
        assert_eq!(s.page("/lampi/device/1e0000000001").await.unwrap().status, 200);
        let other = s.page("/lampi/device/1e0000000002").await.unwrap_err();
        assert_eq!(other.name(), "HTTP 404", "{other}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_and_stopped_site_are_named_failures() {
    let mut site = DjangoSite::start(SiteOptions { users: 2, ..Default::default() });
    let s = Session::new(&url(&site), Duration::from_secs(5)).unwrap();
    let e = s.login("user_000000", "wrong").await.unwrap_err();
    assert_eq!(e.name(), "login: wrong password", "{e}");
    let base = url(&site);
    site.stop();
    let s = Session::new(&base, Duration::from_secs(5)).unwrap();
    let e = s.login("user_000000", "000000_resu").await.unwrap_err();
    assert_eq!(e.name(), "connection refused", "{e}");
}

/// A peer that takes the connection and then drops it, as a dying server does: after reading the request it either
/// closes cleanly (EOF before any response) or resets (SO_LINGER 0). Each is named apart from "connection refused".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_is_named_apart_from_a_refused_one() {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    for (reset, expected) in [(false, "connection closed before response"), (true, "connection reset")] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = reqwest::Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let peer = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf); // the request line and headers, then hang up without a response
            if reset {
                let linger = libc::linger { l_onoff: 1, l_linger: 0 };
                let size = std::mem::size_of::<libc::linger>() as libc::socklen_t;
                let set = unsafe {
                    libc::setsockopt(
                        conn.as_raw_fd(),
                        libc::SOL_SOCKET,
                        libc::SO_LINGER,
                        (&raw const linger).cast(),
                        size,
                    )
                };
                assert_eq!(set, 0, "SO_LINGER");
            }
        });
        let s = Session::new(&base, Duration::from_secs(5)).unwrap();
        let e = s.page("/lampi/").await.unwrap_err();
        assert_eq!(e.name(), expected, "{e}");
        peer.join().unwrap();
    }
}
