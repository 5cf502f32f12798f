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

/// The load generator's own MQTT connections (`loadtest::conn`, rumqttc's packet codec on rustls) against the same
/// broker: CA, client certificate and password from the config and the environment, every round trip answered; the
/// wrong password is a named failure on every connect, and the run still ends with its files.
#[test]
fn a_load_run_reaches_a_tls_broker_with_a_client_certificate_and_a_password() {
    let (broker, tls_port) = tls_broker();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("lampi.toml");
    std::fs::write(&cfg, tls_config(&broker, tls_port, &dir.path().join("state"))).unwrap();
    let smoke = include_str!("../../config/profiles/smoke.toml");
    let mqtt_only = smoke
        .replace("web = 0.5", "web = 0")
        .replace("app = 0.25", "app = 0.5")
        .replace("lamp_ui = 0.25", "lamp_ui = 0.5")
        .replace("per_hour = 180", "per_hour = 0");
    assert!(!mqtt_only.contains("web = 0.5") && !mqtt_only.contains("per_hour = 180"), "smoke.toml changed");
    let profile = dir.path().join("mqtt.toml");
    std::fs::write(&profile, mqtt_only).unwrap();
    let run = |out: &str, password: &str| {
        let out = dir.path().join(out);
        let args = [
            "loadtest",
            "--config",
            cfg.to_str().unwrap(),
            "--profile",
            profile.to_str().unwrap(),
            "--devices",
            "8",
            "--rate",
            "20",
            "--duration",
            "5s",
            "--responder",
            "internal",
            "--no-preflight",
            "--seed",
            "4",
            "--out",
            out.to_str().unwrap(),
        ];
        let (code, _, err) = crate::support::lamp::run_cli(&args, &[("LAMPI_MQTT_PASSWORD", password)]);
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
        let ops = summary["results"]["ops"].as_array().unwrap().clone();
        let op = |name: &str| ops.iter().find(|o| o["name"] == name).cloned().unwrap_or_default();
        (code, err, op("connect"), op("roundtrip"), std::fs::read_to_string(out.join("lampi_failures.csv")).unwrap())
    };
    let (code, err, connect, roundtrip, failures) = run("good", "s3cret-lamp");
    assert_eq!(code, 0, "{err}");
    assert!(connect["count"].as_u64().unwrap() >= 8 && connect["failures"] == 0, "{connect}\n{failures}");
    assert!(roundtrip["count"].as_u64().unwrap() > 0, "set_configs were sent and answered: {roundtrip}");
    assert_eq!(failures.lines().count(), 1, "no failures over TLS:\n{failures}");
    let (code, _, connect, roundtrip, failures) = run("wrong", "wrong");
    assert_eq!(code, 0, "a broker that refuses is measured, not a crash");
    assert_eq!(connect["count"], connect["failures"], "no connect succeeds: {connect}");
    assert!(failures.contains("MQTT,connect,connection refused,"), "{failures}");
    assert_eq!(roundtrip["count"].as_u64().unwrap_or(0), roundtrip["failures"].as_u64().unwrap_or(0), "{roundtrip}");
}
