//! The lamp on a broker that wants TLS, a client certificate and a password (as the course's cloud broker on 8883):
//! a real mosquitto with certificates made by openssl for this test; the password comes from the environment.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::lamp::config_text;
use crate::support::{Lamp, Mosquitto, Probe};

const T: Duration = Duration::from_secs(10);

fn openssl(dir: &Path, args: &[&str]) {
    let out =
        Command::new("openssl").args(args).current_dir(dir).output().expect("openssl (scripts/test.sh installs it)");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, all PEM, in `dir`.
fn certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=lampi test CA",
        ],
    );
    std::fs::write(dir.join("server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for (name, cn) in [("server", "localhost"), ("client", "b827eb08451e")] {
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN={cn}"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &format!("{name}.crt"),
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
            ],
        );
    }
}

fn tls_broker() -> (Mosquitto, u16) {
    let tls_port = Mosquitto::free_port();
    let broker = Mosquitto::start_with(|dir| {
        certificates(dir);
        let passwd = dir.join("passwd");
        let out = Command::new("mosquitto_passwd")
            .args(["-c", "-b"])
            .arg(&passwd)
            .args(["lamp", "s3cret-lamp"])
            .output()
            .unwrap();
        assert!(out.status.success(), "mosquitto_passwd: {}", String::from_utf8_lossy(&out.stderr));
        format!(
            "listener {tls_port} 127.0.0.1\ncafile {d}/ca.crt\ncertfile {d}/server.crt\nkeyfile {d}/server.key\n\
             require_certificate true\nallow_anonymous false\npassword_file {d}/passwd\n",
            d = dir.display()
        )
    });
    (broker, tls_port)
}

fn tls_config(broker: &Mosquitto, tls_port: u16, state: &Path) -> String {
    let d = broker.dir().display();
    config_text(tls_port, state, "")
        .replace("[led]", &format!("username = \"lamp\"\n[mqtt.tls]\nenabled = true\nca_file = \"{d}/ca.crt\"\ncert_file = \"{d}/client.crt\"\nkey_file = \"{d}/client.key\"\n[led]"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lamp_works_over_tls_with_a_client_certificate_and_a_password_from_the_environment() {
    let (broker, tls_port) = tls_broker();
    let dir = tempfile::tempdir().unwrap();
    let mut probe =
        Probe::connect(broker.port(), "plain_probe", &["lamp/changed", "lamp/connection/lamp_service/state"]).await;
    let cfg = tls_config(&broker, tls_port, &dir.path().join("state"));
    assert!(!cfg.contains("s3cret"), "the password is not in the file");
    let lamp = Lamp::start_with(dir.path(), &cfg, &[("LAMPI_MQTT_PASSWORD", "s3cret-lamp")]);
    probe.expect("lamp/connection/lamp_service/state", T, |m| m.text() == "1").await;
    probe.publish("lamp/set_config", r#"{"client": "over_tls", "brightness": 0.4}"#).await;
    let m = probe.expect("lamp/changed", T, |m| m.json()["client"] == "over_tls").await;
    assert_eq!(m.json()["brightness"], 0.4);
    assert!(!lamp.log().contains("s3cret"), "the password is never logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_retried_with_backoff_and_never_connects() {
    let (broker, tls_port) = tls_broker();
    let dir = tempfile::tempdir().unwrap();
    let cfg = tls_config(&broker, tls_port, &dir.path().join("state"));
    let lamp = Lamp::start_with(dir.path(), &cfg, &[("LAMPI_MQTT_PASSWORD", "wrong")]);
    let line = lamp.wait_log("broker connection", T);
    assert!(
        line.to_lowercase().contains("not authorized")
            || line.contains("BadUserNamePassword")
            || line.contains("refused"),
        "{line}"
    );
    assert!(!lamp.log().contains("connected to the broker"), "{}", lamp.log());
}
