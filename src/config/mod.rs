//! Configuration: one TOML file, read once, validated into typed [`Settings`] that every mode shares.
//!
//! Two stages, as in ripgrep's LowArgs -> HiArgs: the text is parsed into a TOML table, then [`reader::Reader`] takes
//! each key into a real type (`Duration`, `Url`, pin numbers, enums), collecting *every* problem as key, value and what
//! was expected. Parsing has no side effects: the environment (for secrets and systemd's `STATE_DIRECTORY`) is passed
//! in as a lookup function, and nothing here touches the network, the GPIO or the disk beyond reading the one file.
//!
//! The documented default, `config/lampi.toml`, is embedded in the binary: it is what runs when no file is installed,
//! and the unit tests parse it, so a broken default fails the build's tests.

pub mod reader;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use reader::Problem;
use reader::{parse_toml, Reader};

/// The shipped, documented default configuration.
pub const DEFAULT_TOML: &str = include_str!("../../config/lampi.toml");
/// Where `run` and `selftest` look when no `--config` is given.
pub const DEFAULT_PATH: &str = "/etc/lampi-agent/lampi.toml";

/// Environment variables that may carry secrets instead of the file.
pub const ENV_MQTT_USERNAME: &str = "LAMPI_MQTT_USERNAME";
pub const ENV_MQTT_PASSWORD: &str = "LAMPI_MQTT_PASSWORD";
pub const ENV_WEB_PASSWORD: &str = "LAMPI_WEB_PASSWORD";

/// Everything wrong with one configuration file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{origin}: {} problem(s):\n{}", problems.len(), list(problems))]
    Invalid { origin: String, problems: Vec<Problem> },
}

fn list(problems: &[Problem]) -> String {
    problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n")
}

/// A secret: never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// Where these settings came from (a path, or "built-in defaults").
    pub origin: String,
    pub device: Device,
    pub mqtt: Mqtt,
    pub led: Led,
    pub state: State,
    pub web: Web,
    pub selftest: Selftest,
    /// Home Assistant MQTT discovery (`[homeassistant]`); `None` unless `homeassistant.enabled = true`.
    pub homeassistant: Option<HomeAssistant>,
}

#[derive(Debug, Clone)]
pub struct Device {
    /// Set in config; otherwise found from `interface` at run time (see `identity`).
    pub id: Option<String>,
    pub interface: String,
}

#[derive(Debug, Clone)]
pub struct Mqtt {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    /// Prepended to every topic; `{device_id}` is replaced by the lamp's id.
    pub topic_prefix: String,
    pub keepalive: Duration,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub tls: Option<Tls>,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
}

#[derive(Debug, Clone)]
pub struct Tls {
    pub ca_file: PathBuf,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Auto,
    Rppal,
    Sim,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PwmMode {
    /// Software PWM on every pin (rppal's `OutputPin` soft PWM).
    Software,
    /// Hardware PWM where a pin has a free channel, software elsewhere.
    Auto,
}

#[derive(Debug, Clone)]
pub struct Led {
    pub backend: Backend,
    /// BCM numbers of the red, green and blue pins.
    pub pins: [u8; 3],
    pub pwm: PwmMode,
    pub frequency_hz: f64,
    pub gamma: f64,
    pub transition: Duration,
}

#[derive(Debug, Clone)]
pub struct State {
    pub dir: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Web {
    pub url: url::Url,
    pub username: Option<String>,
    pub password: Option<Secret>,
}

#[derive(Debug, Clone)]
pub struct Selftest {
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HomeAssistant {
    /// Home Assistant's discovery prefix; its birth message comes on `<prefix>/status`.
    pub discovery_prefix: String,
    /// The name Home Assistant shows for the lamp (`{device_id}` is replaced by the lamp's id).
    pub name: String,
}

impl Settings {
    /// The embedded defaults (what `demo` and a lamp without a config file run on).
    pub fn defaults(env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        Settings::from_toml(DEFAULT_TOML, "built-in defaults", env)
    }

    /// Parses and validates config text; `origin` names it in messages; `env` looks environment variables up.
    pub fn from_toml(text: &str, origin: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let invalid = |problems| ConfigError::Invalid { origin: origin.to_string(), problems };
        let table = parse_toml(text).map_err(|p| invalid(vec![p]))?;
        let mut r = Reader::new(&table);
        let settings = read(&mut r, origin, env);
        let problems = r.finish();
        match settings {
            Some(s) if problems.is_empty() => Ok(s),
            _ => Err(invalid(problems)),
        }
    }

    /// Reads and validates a file.
    pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        Settings::from_toml(&text, &path.display().to_string(), env)
    }

    /// The process environment, for callers at the edge.
    pub fn process_env(name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

const SEC: Duration = Duration::from_secs(1);

fn read(r: &mut Reader, origin: &str, env: &dyn Fn(&str) -> Option<String>) -> Option<Settings> {
    let device = Device {
        id: r.get("device.id", "12 lowercase hex digits (the MAC without colons), e.g. \"b827eb08451e\"", |v| {
            v.as_str().filter(|s| is_device_id(s)).map(str::to_string)
        }),
        interface: r.string("device.interface").unwrap_or_else(|| "eth0".into()),
    };
    let mqtt = read_mqtt(r, env);
    let led = read_led(r);
    let state = State {
        dir: r
            .string("state.dir")
            .or_else(|| env("STATE_DIRECTORY").and_then(|d| d.split(':').next().map(str::to_string)))
            .unwrap_or_else(|| "/var/lib/lampi-agent".into())
            .into(),
    };
    let web = Web {
        url: r
            .get("web.url", "an http:// or https:// URL, e.g. \"http://lampi.example.com\"", |v| {
                url::Url::parse(v.as_str()?).ok().filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            })
            .unwrap_or_else(|| url::Url::parse("http://localhost:8000/").expect("constant URL")),
        username: r.string("web.username").filter(|s| !s.is_empty()),
        password: r.string("web.password").filter(|s| !s.is_empty()).or_else(|| env(ENV_WEB_PASSWORD)).map(Secret),
    };
    let selftest =
        Selftest { timeout: r.duration("selftest.timeout", Duration::from_millis(100), 120 * SEC).unwrap_or(5 * SEC) };
    let homeassistant = read_homeassistant(r);
    Some(Settings { origin: origin.to_string(), device, mqtt: mqtt?, led: led?, state, web, selftest, homeassistant })
}

fn read_homeassistant(r: &mut Reader) -> Option<HomeAssistant> {
    let enabled = r.bool("homeassistant.enabled").unwrap_or(false);
    let prefix = r.get(
        "homeassistant.discovery_prefix",
        "a topic without wildcards, spaces or a leading or trailing '/', e.g. \"homeassistant\"",
        |v| v.as_str().filter(|s| is_plain_topic(s)).map(str::to_string),
    );
    let name = r.get("homeassistant.name", "1 to 64 characters, not blank, no control characters", |v| {
        v.as_str()
            .filter(|s| !s.trim().is_empty() && s.chars().count() <= 64 && !s.chars().any(char::is_control))
            .map(str::to_string)
    });
    enabled.then(|| HomeAssistant {
        discovery_prefix: prefix.unwrap_or_else(|| "homeassistant".into()),
        name: name.unwrap_or_else(|| "LAMPI".into()),
    })
}

/// A topic to publish under: not empty, no wildcards or whitespace, no empty first or last level.
fn is_plain_topic(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('/')
        && !s.ends_with('/')
        && !s.contains(['+', '#'])
        && !s.contains(char::is_whitespace)
}

fn read_mqtt(r: &mut Reader, env: &dyn Fn(&str) -> Option<String>) -> Option<Mqtt> {
    let host = r.get("mqtt.host", "a host name or IP address", |v| {
        v.as_str().filter(|s| !s.is_empty() && !s.contains(char::is_whitespace)).map(str::to_string)
    });
    let tls_enabled = r.bool("mqtt.tls.enabled").unwrap_or(false);
    let ca_file = r.string("mqtt.tls.ca_file").map(PathBuf::from);
    let cert_file = r.string("mqtt.tls.cert_file").map(PathBuf::from);
    let key_file = r.string("mqtt.tls.key_file").map(PathBuf::from);
    if cert_file.is_some() != key_file.is_some() {
        r.problem("mqtt.tls.key_file", format!("{key_file:?}"), "cert_file and key_file set together (or neither)");
    }
    let tls = match (tls_enabled, ca_file) {
        (true, Some(ca_file)) => Some(Tls { ca_file, cert_file, key_file }),
        (true, None) => {
            r.problem(
                "mqtt.tls.ca_file",
                "(missing)",
                "the CA certificate file, required when mqtt.tls.enabled = true",
            );
            None
        }
        (false, _) => None,
    };
    let client_id = r.get("mqtt.client_id", "1 to 23 characters of letters, digits, '_' or '-'", |v| {
        v.as_str()
            .filter(|s| {
                !s.is_empty() && s.len() <= 23 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            })
            .map(str::to_string)
    });
    let prefix = r.get(
        "mqtt.topic_prefix",
        "a topic prefix without wildcards, e.g. \"\", \"/\" or \"devices/{device_id}/\"",
        |v| v.as_str().filter(|s| !s.contains(['+', '#'])).map(str::to_string),
    );
    let reconnect_min = r.duration("mqtt.reconnect_min", Duration::from_millis(10), 60 * SEC).unwrap_or(SEC / 2);
    let reconnect_max = r.duration("mqtt.reconnect_max", Duration::from_millis(10), 3600 * SEC).unwrap_or(30 * SEC);
    if reconnect_max < reconnect_min {
        r.problem(
            "mqtt.reconnect_max",
            humantime::format_duration(reconnect_max).to_string(),
            format!("at least mqtt.reconnect_min ({})", humantime::format_duration(reconnect_min)),
        );
    }
    Some(Mqtt {
        host: host.unwrap_or_else(|| "localhost".into()),
        port: r.int("mqtt.port", 1, 65535).map_or(if tls.is_some() { 8883 } else { 1883 }, |p| p as u16),
        client_id: client_id.unwrap_or_else(|| "lamp_service".into()),
        topic_prefix: prefix.unwrap_or_default(),
        keepalive: r.duration("mqtt.keepalive", 5 * SEC, 65535 * SEC).unwrap_or(60 * SEC),
        username: r.string("mqtt.username").filter(|s| !s.is_empty()).or_else(|| env(ENV_MQTT_USERNAME)),
        password: r.string("mqtt.password").filter(|s| !s.is_empty()).or_else(|| env(ENV_MQTT_PASSWORD)).map(Secret),
        tls,
        reconnect_min,
        reconnect_max,
    })
}

fn read_led(r: &mut Reader) -> Option<Led> {
    let backend = match r.choice("led.backend", &["auto", "rppal", "sim"]).as_deref() {
        Some("rppal") => Backend::Rppal,
        Some("sim") => Backend::Sim,
        _ => Backend::Auto,
    };
    let mut pins = [19u8, 26, 13];
    for (i, colour) in ["red", "green", "blue"].iter().enumerate() {
        if let Some(p) = r.int(&format!("led.{colour}_pin"), 0, 27) {
            pins[i] = p as u8;
        }
    }
    if pins[0] == pins[1] || pins[1] == pins[2] || pins[0] == pins[2] {
        r.problem("led.red_pin/green_pin/blue_pin", format!("{pins:?}"), "three different BCM pin numbers");
    }
    let pwm = match r.choice("led.pwm", &["software", "auto"]).as_deref() {
        Some("auto") => PwmMode::Auto,
        _ => PwmMode::Software,
    };
    Some(Led {
        backend,
        pins,
        pwm,
        frequency_hz: r.float("led.pwm_frequency", 1.0, 100_000.0).unwrap_or(1000.0),
        gamma: r.float("led.gamma", 0.1, 5.0).unwrap_or(1.0),
        transition: r.duration("led.transition", Duration::ZERO, 60 * SEC).unwrap_or(Duration::ZERO),
    })
}

/// A LAMPI device id: the MAC without colons, 12 lowercase hex digits.
pub fn is_device_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn shipped_default_parses_to_the_lampi_defaults() {
        let s = Settings::defaults(&no_env).unwrap();
        assert_eq!(s.mqtt.port, 1883);
        assert_eq!(s.mqtt.client_id, "lamp_service");
        assert_eq!(s.mqtt.keepalive, Duration::from_secs(60));
        assert_eq!(s.led.pins, [19, 26, 13]);
        assert_eq!(s.led.gamma, 1.0);
        assert_eq!(s.led.transition, Duration::ZERO);
        assert_eq!(s.state.dir, PathBuf::from("/var/lib/lampi-agent"));
        assert!(s.mqtt.password.is_none());
        assert_eq!(s.homeassistant, None, "Home Assistant discovery is off by default");
    }

    #[test]
    fn home_assistant_is_off_unless_enabled_and_checked_either_way() {
        let on = Settings::from_toml("[homeassistant]\nenabled = true\n", "t", &no_env).unwrap();
        let ha = on.homeassistant.unwrap();
        assert_eq!((ha.discovery_prefix.as_str(), ha.name.as_str()), ("homeassistant", "LAMPI"));
        let custom = "[homeassistant]\nenabled = true\ndiscovery_prefix = \"ha/disc\"\nname = \"Desk lamp\"\n";
        let ha = Settings::from_toml(custom, "t", &no_env).unwrap().homeassistant.unwrap();
        assert_eq!((ha.discovery_prefix.as_str(), ha.name.as_str()), ("ha/disc", "Desk lamp"));
        assert_eq!(Settings::from_toml("[homeassistant]\nname = \"x\"\n", "t", &no_env).unwrap().homeassistant, None);
        let bad = "[homeassistant]\nenabled = \"yes\"\ndiscovery_prefix = \"ha/#\"\nname = \"  \"\nprefix = 1\n";
        let msg = Settings::from_toml(bad, "t", &no_env).unwrap_err().to_string();
        for needle in [
            "homeassistant.enabled = \"yes\": expected true or false",
            "homeassistant.discovery_prefix = \"ha/#\": expected a topic without wildcards",
            "homeassistant.name = \"  \": expected 1 to 64 characters",
            "homeassistant.prefix = 1: expected no such key",
        ] {
            assert!(msg.contains(needle), "{needle:?} missing from {msg}");
        }
        for prefix in ["", "/homeassistant", "homeassistant/", "home assistant", "ha/+"] {
            let text = format!("[homeassistant]\ndiscovery_prefix = {prefix:?}\n");
            assert!(Settings::from_toml(&text, "t", &no_env).is_err(), "{prefix:?} accepted");
        }
    }

    #[test]
    fn every_problem_is_reported_not_just_the_first() {
        let text = "[mqtt]\nport = 0\nclient_id = \"has space\"\n[led]\nbackend = \"pwm\"\ngamma = 9\nred_pin = 26\n[web]\nurl = \"ftp://x\"\n[extra]\nx = 1\n";
        let err = Settings::from_toml(text, "t.toml", &no_env).unwrap_err();
        let ConfigError::Invalid { problems, .. } = &err else { panic!("{err}") };
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        for k in [
            "mqtt.port",
            "mqtt.client_id",
            "led.backend",
            "led.gamma",
            "led.red_pin/green_pin/blue_pin",
            "web.url",
            "extra.x",
        ] {
            assert!(keys.contains(&k), "{k} missing from {keys:?}");
        }
        let msg = err.to_string();
        assert!(msg.contains("mqtt.port = 0: expected a whole number from 1 to 65535"), "{msg}");
        assert!(msg.contains("led.backend = \"pwm\": expected one of \"auto\", \"rppal\", \"sim\""), "{msg}");
    }

    #[test]
    fn secrets_come_from_the_environment_and_never_print() {
        let env = |k: &str| (k == ENV_MQTT_PASSWORD).then(|| "hunter2".to_string());
        let s = Settings::from_toml("[mqtt]\nusername = \"lamp\"\n", "t", &env).unwrap();
        assert_eq!(s.mqtt.password, Some(Secret("hunter2".into())));
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn systemd_state_directory_is_used_unless_configured() {
        let env = |k: &str| (k == "STATE_DIRECTORY").then(|| "/var/lib/lampi-agent2".to_string());
        assert_eq!(Settings::from_toml("", "t", &env).unwrap().state.dir, PathBuf::from("/var/lib/lampi-agent2"));
        let s = Settings::from_toml("[state]\ndir = \"/tmp/x\"\n", "t", &env).unwrap();
        assert_eq!(s.state.dir, PathBuf::from("/tmp/x"));
    }

    #[test]
    fn tls_needs_a_ca_and_matching_cert_and_key() {
        let err = Settings::from_toml("[mqtt.tls]\nenabled = true\ncert_file = \"c.pem\"\n", "t", &no_env).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("mqtt.tls.ca_file"), "{msg}");
        assert!(msg.contains("mqtt.tls.key_file"), "{msg}");
        let ok = Settings::from_toml("[mqtt.tls]\nenabled = true\nca_file = \"/ca.pem\"\n", "t", &no_env).unwrap();
        assert_eq!(ok.mqtt.port, 8883);
    }

    #[test]
    fn device_ids_are_twelve_lowercase_hex_digits() {
        assert!(is_device_id("b827eb08451e"));
        assert!(!is_device_id("B827EB08451E"));
        assert!(!is_device_id("b8:27:eb:08:45:1e"));
        assert!(Settings::from_toml("[device]\nid = \"xyz\"\n", "t", &no_env).is_err());
    }
}
