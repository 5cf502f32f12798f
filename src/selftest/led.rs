//! The LED check: which backend and pins, permission to drive them, then red, green, blue and white lit in turn at
//! half brightness, and the prior state restored, always (also when a step fails or runs out of time).
//!
//! Who drives the LED decides how:
//! - the lamp service is on the broker (its connection topic says `"1"`): through it, over MQTT as `lamp_selftest`,
//!   each colour confirmed on `lamp/changed`, then the exact prior state (the retained `lamp/changed`) sent back;
//! - a `lampi-agent run` on the same config holds the pins but is not on the broker: hands off (a FAIL that says so);
//! - nobody: the configured backend is opened here, each channel set in turn, then what it showed before set again.
//!
//! Pure parts: [`open_failure`] (an `LedError` to a verdict with the exact fix) and the verdict builders.

use std::time::Duration;

use super::broker::{self, Conn};
use super::service::{self, Seen};
use super::{ms, Ctx, Verdict, CLIENT_ID};
use crate::config::Backend;
use crate::lamp::colour::Duties;
use crate::lamp::{Command, Level, State};
use crate::led::{self, Channel, Led, LedError};

/// How long each test colour stays on (plus the configured fade): long enough for a technician to see it.
pub const DWELL: Duration = Duration::from_millis(300);

/// The test colours: name, hue and saturation (hundredths) for the lamp service, duties for a backend opened here.
/// Hue 0.33 and 0.67 are the nearest hundredths to pure green and blue (2% of red leaks in, invisible).
pub const SEQUENCE: [(&str, u8, u8, Duties); 4] = [
    ("red", 0, 100, Duties([0.5, 0.0, 0.0])),
    ("green", 33, 100, Duties([0.0, 0.5, 0.0])),
    ("blue", 67, 100, Duties([0.0, 0.0, 0.5])),
    ("white", 0, 0, Duties([0.5, 0.5, 0.5])),
];
/// Brightness of the test colours through the lamp service (hundredths).
const LEVEL: u8 = 50;

fn lv(n: u8) -> Level {
    Level::from_hundredths(n).expect("a constant level")
}

fn full_command(state: &State) -> Command {
    Command {
        client: CLIENT_ID.into(),
        h: Some(state.h),
        s: Some(state.s),
        brightness: Some(state.brightness),
        on: Some(state.on),
    }
}

fn channels_text(channels: &[Channel]) -> String {
    channels.iter().map(|c| format!("{} GPIO{} {}", c.colour, c.pin, c.drive)).collect::<Vec<_>>().join(", ")
}

/// Who may run this (for the `gpio` group hint).
fn user() -> String {
    std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "$USER".into())
}

/// The verdict when the backend cannot be opened or driven, with the exact fix.
pub fn open_failure(e: &LedError, user: &str) -> Verdict {
    match e {
        LedError::Permission { detail } => Verdict::fail(
            format!("no permission to drive the GPIO pins ({detail})"),
            format!(
                "`sudo usermod -aG gpio {user}`, then log in again (the service gets the group from its unit: \
                 SupplementaryGroups=gpio)"
            ),
        ),
        LedError::HardwarePwm { pin, detail } => Verdict::fail(
            format!("hardware PWM for GPIO{pin} is not available ({detail})"),
            "add `dtoverlay=pwm-2chan` to /boot/firmware/config.txt and reboot, or set led.pwm = \"software\"",
        ),
        LedError::Gpio { pin, detail } => Verdict::fail(
            format!("GPIO{pin}: {detail}"),
            format!("is something else using GPIO{pin} (pigpiod, the old lamp service)? check led.*_pin"),
        ),
        LedError::Unsupported => Verdict::fail(
            e.to_string(),
            "set led.backend = \"sim\", or install a build with the `gpio` feature for the Pi",
        ),
    }
}

/// Lights each test colour for `dwell`, then sets what the LED showed before; returns that. A failing step stops
/// the sequence, and the prior duties are set all the same.
pub async fn light_sequence(led: &mut dyn Led, dwell: Duration) -> Result<Duties, (String, LedError)> {
    let before = led.current();
    let mut result = Ok(before);
    for (name, _, _, duties) in SEQUENCE {
        if let Err(e) = led.set(duties) {
            result = Err((format!("lighting {name}"), e));
            break;
        }
        tokio::time::sleep(dwell).await;
    }
    let restored = led.set(before).map_err(|e| (format!("restoring {before}"), e));
    result.and(restored.map(|_| before))
}

/// The verdict of the sequence on a backend opened here.
pub fn direct_verdict(
    backend: &str,
    channels: &[Channel],
    result: Result<Duties, (String, LedError)>,
    sim_on_pi: bool,
) -> Verdict {
    let head = format!("{backend}: {}", channels_text(channels));
    match result {
        Err((step, e)) => {
            let v = open_failure(&e, &user());
            Verdict { detail: format!("{head}; {step}: {}", v.detail), ..v }
        }
        Ok(before) => {
            let detail =
                format!("{head}; lit red, green, blue, white at 50%, then restored {before} (no lamp service running)");
            if sim_on_pi {
                Verdict::warn(
                    format!("{detail}; led.backend = \"sim\" on a Raspberry Pi: the real LED is not driven"),
                    "set led.backend = \"auto\" (or \"rppal\")",
                )
            } else {
                Verdict::pass(detail)
            }
        }
    }
}

/// The verdict of the sequence through the lamp service.
pub fn daemon_verdict(
    plan: &str,
    before: &State,
    sequence: Result<Vec<Duration>, String>,
    restored: Result<Duration, String>,
) -> Verdict {
    let restore_cmd = String::from_utf8_lossy(&crate::lamp::codec::encode_command(&full_command(before))).into_owned();
    match (sequence, restored) {
        (Ok(rtts), Ok(back)) => {
            let rtts: Vec<String> = rtts.iter().map(|d| format!("{:.1}", d.as_secs_f64() * 1000.0)).collect();
            Verdict::pass(format!(
                "through the lamp service (MQTT): red, green, blue, white confirmed on lamp/changed ({} ms), prior \
                 state restored ({before}, {}); {plan}",
                rtts.join("/"),
                ms(back)
            ))
        }
        (Err(e), Ok(_)) => Verdict::fail(
            format!("through the lamp service: {e}; the prior state ({before}) was restored; {plan}"),
            "`journalctl -u lampi-agent -n 50`",
        ),
        (seq, Err(e)) => Verdict::fail(
            format!(
                "through the lamp service: {}; could NOT restore the prior state ({before}): {e}",
                seq.err().unwrap_or_else(|| "the colours were confirmed".into())
            ),
            format!("set it back: mosquitto_pub -t <prefix>lamp/set_config -q 1 -m '{restore_cmd}'"),
        ),
    }
}

pub async fn check(ctx: &Ctx<'_>) -> Verdict {
    let topics = service::topics(ctx);
    ctx.stage("waiting for the broker, to find a running lamp service");
    let why_not = match tokio::time::timeout(ctx.timeout, find_service(ctx, &topics)).await {
        Ok(Ok((conn, seen))) if seen.connection.as_deref() == Some("1") => {
            return via_service(ctx, conn, seen, &topics).await;
        }
        Ok(Ok((conn, seen))) => {
            conn.close().await;
            match seen.connection {
                Some(v) => format!("{} = {v:?}", topics.connection),
                None => format!("nothing retained on {}", topics.connection),
            }
        }
        Ok(Err(e)) => e,
        Err(_) => format!("no answer from the broker within {}", humantime::format_duration(ctx.timeout)),
    };
    let pids = service::daemon_pids(ctx.config_path.as_deref());
    if let Some(pid) = pids.first() {
        return Verdict::fail(
            format!(
                "lampi-agent run (pid {pid}) holds the pins but the self-test cannot reach it over MQTT ({why_not}); \
                 not driving the LED behind its back"
            ),
            "get the lamp service onto the broker (see the service and broker checks) so the test goes through it, \
             or `systemctl stop lampi-agent` to test the pins directly",
        );
    }
    direct(ctx).await
}

async fn find_service(ctx: &Ctx<'_>, topics: &crate::mqtt::Topics) -> Result<(Conn, Seen), String> {
    let (mut conn, _) = Conn::connect(&ctx.settings.mqtt).await.map_err(|e| {
        let v = broker::connect_failure(&e, &ctx.settings.mqtt);
        format!("broker: {}", v.detail)
    })?;
    match service::observe(&mut conn, ctx, topics).await {
        Ok(seen) => Ok((conn, seen)),
        Err(e) => {
            conn.close().await;
            Err(e)
        }
    }
}

async fn via_service(ctx: &Ctx<'_>, mut conn: Conn, seen: Seen, topics: &crate::mqtt::Topics) -> Verdict {
    let (backend, channels) = led::plan(&ctx.settings.led, led::is_raspberry_pi());
    let plan = format!("{backend} LED: {}", channels_text(&channels));
    let before = match seen.changed {
        Some(Ok((state, _client))) => state,
        other => {
            conn.close().await;
            return Verdict::fail(
                format!(
                    "the lamp service is online but its state is unknown ({}); not changing a lamp that cannot be \
                     restored",
                    other.and_then(Result::err).unwrap_or_else(|| format!("nothing retained on {}", topics.changed))
                ),
                "`journalctl -u lampi-agent -n 50`: the service publishes lamp/changed (retained) on every connect",
            );
        }
    };
    let dwell = ctx.dwell();
    let sequence = tokio::time::timeout(ctx.timeout + 4 * dwell, async {
        let mut rtts = Vec::with_capacity(SEQUENCE.len());
        for (name, h, s, _) in SEQUENCE {
            let cmd = Command {
                client: CLIENT_ID.into(),
                h: Some(lv(h)),
                s: Some(lv(s)),
                brightness: Some(lv(LEVEL)),
                on: Some(true),
            };
            ctx.stage(format!("waiting for {} after the {name} set_config", topics.changed));
            rtts.push(service::round_trip(&mut conn, topics, &cmd).await.map_err(|e| format!("{name}: {e}"))?);
            tokio::time::sleep(dwell).await;
        }
        Ok::<_, String>(rtts)
    })
    .await
    .unwrap_or_else(|_| {
        Err(format!("no answer on {} within {}", topics.changed, humantime::format_duration(ctx.timeout)))
    });
    ctx.stage(format!("waiting for {} after restoring the prior state", topics.changed));
    let restored = tokio::time::timeout(ctx.timeout, service::round_trip(&mut conn, topics, &full_command(&before)))
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {}", humantime::format_duration(ctx.timeout))));
    conn.close().await;
    daemon_verdict(&plan, &before, sequence, restored)
}

async fn direct(ctx: &Ctx<'_>) -> Verdict {
    ctx.stage("while opening the LED backend");
    let cfg = &ctx.settings.led;
    let mut led = match led::open(cfg) {
        Ok(l) => l,
        Err(e) => return open_failure(&e, &user()),
    };
    let (backend, channels) = (led.name(), led.channels());
    ctx.stage("while lighting the test colours");
    let result = light_sequence(led.as_mut(), ctx.dwell()).await;
    let sim_on_pi = backend == "sim" && cfg.backend == Backend::Sim && led::is_raspberry_pi();
    direct_verdict(backend, &channels, result, sim_on_pi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::led::Sim;
    use crate::selftest::Status;

    #[tokio::test(start_paused = true)]
    async fn each_channel_is_lit_in_turn_then_the_prior_duties_come_back() {
        let sim = Sim::new([19, 26, 13]);
        let mut led: Box<dyn Led> = Box::new(sim.clone());
        let before = Duties([0.1, 0.2, 0.3]);
        led.set(before).unwrap();
        let t0 = tokio::time::Instant::now();
        assert_eq!(light_sequence(led.as_mut(), DWELL).await.unwrap(), before);
        assert_eq!(t0.elapsed(), 4 * DWELL);
        let shown: Vec<Duties> = sim.history();
        assert_eq!(
            shown,
            vec![
                before,
                Duties([0.5, 0.0, 0.0]),
                Duties([0.0, 0.5, 0.0]),
                Duties([0.0, 0.0, 0.5]),
                Duties([0.5, 0.5, 0.5]),
                before
            ]
        );
        let v = direct_verdict("sim", &sim.channels(), Ok(before), false);
        assert_eq!(v.status, Status::Pass);
        assert!(
            v.detail.starts_with("sim: red GPIO19 simulated, green GPIO26 simulated, blue GPIO13 simulated;"),
            "{}",
            v.detail
        );
        assert_eq!(direct_verdict("sim", &sim.channels(), Ok(before), true).status, Status::Warn);
    }

    #[test]
    fn the_service_colours_are_the_channels() {
        for (name, h, s, duties) in SEQUENCE {
            let st = State { h: lv(h), s: lv(s), brightness: lv(LEVEL), on: true };
            let d = crate::lamp::colour::duties(&st, 1.0);
            for i in 0..3 {
                assert!((d.0[i] - duties.0[i]).abs() <= 0.011, "{name}: {d} vs {duties}");
            }
        }
    }

    #[test]
    fn gpio_problems_get_the_exact_fix() {
        let p = open_failure(&LedError::Permission { detail: "/dev/gpiomem".into() }, "pi");
        assert_eq!(p.status, Status::Fail);
        assert!(p.hint.unwrap().starts_with("`sudo usermod -aG gpio pi`"));
        let hw = open_failure(&LedError::HardwarePwm { pin: 19, detail: "no pwmchip0".into() }, "pi");
        assert!(hw.detail.contains("GPIO19"));
        assert!(hw.hint.unwrap().contains("dtoverlay=pwm-2chan"));
        assert!(open_failure(&LedError::Unsupported, "pi").hint.unwrap().contains("led.backend = \"sim\""));
    }

    #[test]
    fn a_failed_restore_says_how_to_put_the_lamp_back() {
        let before = State { h: lv(60), s: lv(30), brightness: lv(70), on: false };
        let ok = daemon_verdict("plan", &before, Ok(vec![Duration::from_millis(1); 4]), Ok(Duration::from_millis(1)));
        assert_eq!(ok.status, Status::Pass);
        assert_eq!(
            ok.detail,
            "through the lamp service (MQTT): red, green, blue, white confirmed on lamp/changed (1.0/1.0/1.0/1.0 ms), \
             prior state restored (h=0.60 s=0.30 brightness=0.70 off, 1.0 ms); plan"
        );
        let bad = daemon_verdict("plan", &before, Err("green: timeout".into()), Err("no answer".into()));
        assert_eq!(bad.status, Status::Fail);
        assert!(bad.detail.contains("green: timeout; could NOT restore"), "{}", bad.detail);
        let hint = bad.hint.unwrap();
        assert!(hint.contains(r#""color":{"h":0.6,"s":0.3}"#) && hint.contains(r#""on":false"#), "{hint}");
    }
}
