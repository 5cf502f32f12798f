//! `--preflight` (on unless `--no-preflight`): before any load is sent, one MQTT CONNECT to the broker and one GET of
//! the site's login form, so a wrong address or a server that is down ends the run at once with a message that
//! names it and the setting to check, rather than as a run full of failures. It owns nothing and leaves nothing
//! behind: its one connection is closed again.

use std::time::Duration;

use anyhow::{bail, Context};

use crate::config::Settings;

/// Checks that the broker answers a CONNECT and (when `site`) the site serves its login form.
pub async fn check(settings: &Settings, timeout: Duration, site: bool) -> anyhow::Result<()> {
    let mut o = crate::mqtt::options(&settings.mqtt, &format!("lt-preflight-{}", std::process::id()), None)?;
    o.set_keep_alive(Duration::from_secs(10));
    let (client, mut ev) = crate::mqtt::client(o, 4);
    let broker = format!("{}:{}", settings.mqtt.host, settings.mqtt.port);
    match tokio::time::timeout(timeout, ev.poll()).await {
        Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_)))) => {}
        Ok(Ok(other)) => bail!("broker {broker}: unexpected first packet {other:?}"),
        Ok(Err(e)) => bail!("broker {broker} is not reachable: {e} (check mqtt.host/port, or --no-preflight)"),
        Err(_) => bail!("broker {broker} did not answer within {timeout:?}"),
    }
    let _ = client.try_disconnect();
    let _ = tokio::time::timeout(Duration::from_millis(200), ev.poll()).await;
    if !site {
        return Ok(());
    }
    let web = crate::web::Session::new(&settings.web.url, timeout)?;
    web.login_form().await.with_context(|| {
        format!("web site {} is not serving /login/ (check web.url, or --no-preflight)", settings.web.url)
    })?;
    Ok(())
}
