//! Config errors: exit 78, every problem named by key; `config check`; `--version`.

use crate::support::lamp::run_cli;

#[test]
fn every_kind_of_config_error_exits_78_and_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &[&str])] = &[
        ("[mqtt]\nport = 99999\n", &["mqtt.port = 99999", "1 to 65535"]),
        ("[mqtt]\nport = \"1883\"\n", &["mqtt.port = \"1883\""]),
        ("[led]\nbackend = \"pigpio\"\n", &["led.backend = \"pigpio\"", "\"sim\""]),
        ("[led]\ngamma = -1\n", &["led.gamma = -1"]),
        ("[led]\ntransition = \"forever\"\n", &["led.transition = \"forever\"", "duration"]),
        ("[mqtt]\nkeepalive = \"1s\"\n", &["mqtt.keepalive"]),
        ("[mqtt]\nhots = \"x\"\n", &["mqtt.hots", "no such key"]),
        ("[device]\nid = \"B8:27\"\n", &["device.id", "12 lowercase hex"]),
        ("[web]\nurl = \"lampi.example.com\"\n", &["web.url"]),
        ("[mqtt.tls]\nenabled = true\n", &["mqtt.tls.ca_file"]),
        ("[mqtt\nport = 1\n", &["line 1", "valid TOML"]),
        (
            "[mqtt]\nport = 0\n[led]\nred_pin = 99\n[selftest]\ntimeout = \"0s\"\n",
            &["mqtt.port", "led.red_pin", "selftest.timeout"],
        ),
    ];
    for (text, needles) in cases {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, text).unwrap();
        for args in [&["run", "--config", path.to_str().unwrap()][..], &["config", "check", path.to_str().unwrap()][..]]
        {
            let (code, _out, err) = run_cli(args, &[]);
            assert_eq!(code, 78, "{args:?} with {text:?} exited {code}:\n{err}");
            for n in *needles {
                assert!(err.contains(n), "{args:?} with {text:?}: {n:?} missing from:\n{err}");
            }
        }
    }
}

#[test]
fn a_missing_explicit_config_is_a_config_error() {
    let (code, _, err) = run_cli(&["run", "--config", "/nonexistent/lampi.toml"], &[]);
    assert_eq!(code, 78);
    assert!(err.contains("/nonexistent/lampi.toml"), "{err}");
}

#[test]
fn config_check_accepts_the_shipped_default_and_hides_secrets() {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/config/lampi.toml");
    let (code, out, err) = run_cli(&["config", "check", shipped], &[("LAMPI_MQTT_PASSWORD", "s3cret-value")]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("OK"), "{out}");
    assert!(!out.contains("s3cret-value") && !err.contains("s3cret-value"));
    let (code, out, _) = run_cli(&["config", "default"], &[]);
    assert_eq!(code, 0);
    assert_eq!(out, std::fs::read_to_string(shipped).unwrap());
}

#[test]
fn version_and_usage_errors() {
    let (code, out, _) = run_cli(&["--version"], &[]);
    assert_eq!(code, 0);
    assert!(out.starts_with("lampi-agent "), "{out}");
    let (code, _, err) = run_cli(&["run", "--bogus"], &[]);
    assert_eq!(code, 2, "{err}");
}
