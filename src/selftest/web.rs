//! The web site check: the Django login page answers (reachable), the lamp's configured owner can log in, and the
//! lamp's own page is on that account. A site that answers but has no credentials configured is a SKIP for the
//! login (the lamp itself does not need them); anything unreachable or refused is a FAIL with a hint. Pure verdict
//! builders take `web::WebError`s, so each failure is unit-tested without a server.

use std::time::Duration;

use tokio::time::Instant;
use url::Url;

use super::{ms, Ctx, Verdict};
use crate::web::{Session, WebError};

const CREDENTIALS: &str = "check web.username and web.password (or LAMPI_WEB_PASSWORD)";

/// The site did not serve its login form.
pub fn unreachable(url: &Url, e: &WebError) -> Verdict {
    let site = format!("is the site up (`systemctl status` its gunicorn/nginx) and web.url = {url} right?");
    match e {
        WebError::Refused(at) => Verdict::fail(format!("connection refused by {at}: nothing serves {url}"), site),
        WebError::Timeout => Verdict::fail(format!("{url} did not answer in time"), site),
        WebError::Status { status, path } => Verdict::fail(
            format!("GET {path} answered HTTP {status}"),
            "is web.url the LAMPI site (Django's login at /login/)? see the site's error log",
        ),
        WebError::NoCsrfToken => Verdict::fail(
            format!("{url}login/ has no Django login form"),
            "is web.url the LAMPI site (Django's login at /login/)?",
        ),
        other => Verdict::fail(format!("{url}: {other}"), site),
    }
}

/// The login was refused or broke.
pub fn login_failed(user: &str, e: &WebError) -> Verdict {
    match e {
        WebError::WrongPassword => {
            Verdict::fail(format!("login as {user} refused: wrong username or password"), CREDENTIALS)
        }
        WebError::Status { status: 403, .. } => Verdict::fail(
            format!("login as {user}: HTTP 403 (CSRF check failed)"),
            "behind HTTPS the site's CSRF_TRUSTED_ORIGINS must include web.url's origin",
        ),
        other => Verdict::fail(format!("login as {user}: {other}"), "see the site's error log"),
    }
}

pub async fn check(ctx: &Ctx<'_>) -> Verdict {
    let web = &ctx.settings.web;
    let session = match Session::new(&web.url, ctx.timeout) {
        Ok(s) => s,
        Err(e) => return Verdict::fail(format!("cannot set up an HTTP client: {e}"), "report this as a bug"),
    };
    ctx.stage(format!("waiting for GET {}login/", web.url));
    let t0 = Instant::now();
    let token = match session.login_form().await {
        Ok((token, _)) => token,
        Err(e) => return unreachable(&web.url, &e),
    };
    let reach = format!("{} reachable (login form {})", web.url, ms(t0.elapsed()));
    let Some(user) = &web.username else {
        return Verdict::skip(
            format!("{reach}; login not checked: web.username is unset"),
            "set web.username and web.password (or LAMPI_WEB_PASSWORD) to check the owner's login",
        );
    };
    let Some(password) = &web.password else {
        return Verdict::fail(
            format!("{reach}; web.username = {user:?} but no password is configured"),
            "set web.password (or LAMPI_WEB_PASSWORD in the environment)",
        );
    };
    ctx.stage(format!("waiting for the login POST as {user}"));
    let t1 = Instant::now();
    if let Err(e) = session.login_post(&token, user, &password.0).await {
        let v = login_failed(user, &e);
        return Verdict { detail: format!("{reach}; {}", v.detail), ..v };
    }
    let logged_in = format!("{reach}; logged in as {user} ({})", ms(t1.elapsed()));
    let page = format!("/lampi/device/{}", ctx.identity.device_id);
    ctx.stage(format!("waiting for GET {page}"));
    let t2 = Instant::now();
    lamp_page(&logged_in, user, &page, &web.url, session.page(&page).await.map(|_| t2.elapsed()))
}

/// The lamp's page on the owner's account: 404 means the lamp is not associated with that user (a WARN: the lamp
/// works, the owner cannot see it yet).
pub fn lamp_page(so_far: &str, user: &str, page: &str, url: &Url, got: Result<Duration, WebError>) -> Verdict {
    match got {
        Ok(d) => Verdict::pass(format!("{so_far}; {page} {}", ms(d))),
        Err(WebError::Status { status: 404, .. }) => Verdict::warn(
            format!("{so_far}; {page} is 404: this lamp is not on {user}'s account"),
            format!("associate it: log in at {url}lampi/add/ and enter the code the lamp shows"),
        ),
        Err(e) => Verdict::fail(format!("{so_far}; {page}: {e}"), "see the site's error log"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selftest::Status;

    #[test]
    fn unreachable_and_refused_logins_fail_with_hints() {
        let url = Url::parse("http://lampi.example.com:8000/").unwrap();
        let v = unreachable(&url, &WebError::Refused("lampi.example.com:8000".into()));
        assert_eq!(v.status, Status::Fail);
        assert_eq!(
            v.detail,
            "connection refused by lampi.example.com:8000: nothing serves http://lampi.example.com:8000/"
        );
        assert!(v.hint.unwrap().contains("web.url"));
        assert!(unreachable(&url, &WebError::Status { status: 502, path: "/login/".into() })
            .detail
            .contains("HTTP 502"));
        let wrong = login_failed("user_000001", &WebError::WrongPassword);
        assert_eq!(wrong.detail, "login as user_000001 refused: wrong username or password");
        assert!(wrong.hint.unwrap().contains("LAMPI_WEB_PASSWORD"));
    }

    #[test]
    fn a_lamp_missing_from_the_owners_account_is_a_warning() {
        let url = Url::parse("http://x/").unwrap();
        let ok = lamp_page("s", "u", "/lampi/device/1e0000000001", &url, Ok(Duration::from_millis(3)));
        assert_eq!((ok.status, ok.detail.as_str()), (Status::Pass, "s; /lampi/device/1e0000000001 3.0 ms"));
        let missing = lamp_page(
            "s",
            "u",
            "/lampi/device/b827eb08451e",
            &url,
            Err(WebError::Status { status: 404, path: "p".into() }),
        );
        assert_eq!(missing.status, Status::Warn);
        assert!(missing.hint.unwrap().contains("http://x/lampi/add/"));
    }
}
