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
