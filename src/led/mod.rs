//! The LED: one small trait the project owns ([`Led`]: set three duties, turn off) and its backends.
//!
//! `gpio` (rppal, the only file that imports rppal, retired upstream at 0.22.1) drives the LAMPI board; `sim` keeps and
//! logs duties for machines without GPIO and for tests. [`open`] picks one from config at run time; `auto` means rppal
//! on a Raspberry Pi and sim elsewhere, and the choice is logged. Nothing here knows about MQTT or lamp state.

#[cfg(all(feature = "gpio", target_os = "linux"))]
mod gpio;
pub mod sim;

use crate::config::{self, Backend, PwmMode};
use crate::lamp::colour::Duties;

pub use sim::Sim;

/// Why the LED could not be driven; each variant says the likely cause and the fix.
#[derive(Debug, thiserror::Error)]
pub enum LedError {
    /// No permission on /dev/gpiomem or /dev/gpiochip*.
    #[error("no permission to drive GPIO pins ({detail}): add the service user to the `gpio` group (usermod -aG gpio lampi) and restart it")]
    Permission { detail: String },
    /// The hardware PWM sysfs interface is missing.
    #[error("hardware PWM on GPIO{pin} is not available ({detail}): add `dtoverlay=pwm-2chan` to /boot/firmware/config.txt and reboot, or set led.pwm = \"software\"")]
    HardwarePwm { pin: u8, detail: String },
    /// Any other GPIO failure.
    #[error("GPIO{pin}: {detail}")]
    Gpio { pin: u8, detail: String },
    /// `backend = "rppal"` on a build without GPIO support.
    #[error(
        "this build has no GPIO support (built without the `gpio` feature or not for Linux): set led.backend = \"sim\""
    )]
    Unsupported,
}

/// How one colour channel is driven, for logs and the self-test.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Channel {
    pub colour: &'static str,
    pub pin: u8,
    /// "software PWM", "hardware PWM1", or "simulated".
    pub drive: String,
}

/// The LED hardware: three duty cycles in [0, 1].
pub trait Led: Send {
    /// Sets the red, green and blue duties.
    fn set(&mut self, duties: Duties) -> Result<(), LedError>;
    /// The duties last set.
    fn current(&self) -> Duties;
    /// Which backend this is ("rppal", "sim").
    fn name(&self) -> &'static str;
    /// How each channel is driven.
    fn channels(&self) -> Vec<Channel>;
    /// Turns the LED off explicitly (on stop).
    fn off(&mut self) -> Result<(), LedError> {
        self.set(Duties::OFF)
    }
}

pub const COLOURS: [&str; 3] = ["red", "green", "blue"];

/// Whether this machine is a Raspberry Pi (by its device-tree model string).
pub fn is_raspberry_pi() -> bool {
    ["/proc/device-tree/model", "/sys/firmware/devicetree/base/model"]
        .iter()
        .any(|p| std::fs::read_to_string(p).is_ok_and(|m| m.contains("Raspberry Pi")))
}

/// The hardware PWM channel a pin can use on Pis before the Pi 5 (GPIO12/18 -> PWM0, GPIO13/19 -> PWM1), if any.
pub fn hardware_pwm_channel(pin: u8) -> Option<u8> {
    match pin {
        12 | 18 => Some(0),
        13 | 19 => Some(1),
        _ => None,
    }
}

/// How [`open`] would drive each colour with this config, without touching a pin: the backend's name and the
/// channels. For the self-test when the lamp service holds the pins. Two pins on one hardware channel: the first
/// gets it, as the rppal backend does.
pub fn plan(cfg: &config::Led, on_pi: bool) -> (&'static str, Vec<Channel>) {
    let rppal = match cfg.backend {
        Backend::Rppal => true,
        Backend::Sim => false,
        Backend::Auto => on_pi,
    };
    if !rppal {
        return ("sim", Sim::new(cfg.pins).channels());
    }
    let mut used = Vec::new();
    let channels = COLOURS
        .iter()
        .zip(cfg.pins)
        .map(|(colour, pin)| {
            let hw = hardware_pwm_channel(pin).filter(|n| cfg.pwm == PwmMode::Auto && !used.contains(n));
            let drive = match hw {
                Some(n) => {
                    used.push(n);
                    format!("hardware PWM{n}")
                }
                None => "software PWM".to_string(),
            };
            Channel { colour, pin, drive }
        })
        .collect();
    ("rppal", channels)
}

/// Opens the configured backend. `auto` picks rppal on a Raspberry Pi and sim elsewhere, and logs which.
pub fn open(cfg: &config::Led) -> Result<Box<dyn Led>, LedError> {
    let backend = match cfg.backend {
        Backend::Auto if is_raspberry_pi() => {
            tracing::info!("led.backend = auto: this is a Raspberry Pi, using rppal");
            Backend::Rppal
        }
        Backend::Auto => {
            tracing::info!("led.backend = auto: not a Raspberry Pi, using the simulated LED");
            Backend::Sim
        }
        b => b,
    };
    match backend {
        Backend::Sim => Ok(Box::new(Sim::new(cfg.pins))),
        _ => open_gpio(cfg),
    }
}

#[cfg(all(feature = "gpio", target_os = "linux"))]
fn open_gpio(cfg: &config::Led) -> Result<Box<dyn Led>, LedError> {
    Ok(Box::new(gpio::Rppal::open(cfg)?))
}

#[cfg(not(all(feature = "gpio", target_os = "linux")))]
fn open_gpio(_cfg: &config::Led) -> Result<Box<dyn Led>, LedError> {
    Err(LedError::Unsupported)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn led(text: &str) -> config::Led {
        config::Settings::from_toml(text, "t", &|_| None).unwrap().led
    }

    #[test]
    fn the_plan_shows_which_pins_get_hardware_pwm() {
        let (name, ch) = plan(&led("[led]\nbackend = \"rppal\"\npwm = \"auto\"\n"), false);
        assert_eq!(name, "rppal");
        let drives: Vec<_> = ch.iter().map(|c| (c.colour, c.pin, c.drive.as_str())).collect();
        // LAMPI: red GPIO19 takes PWM1; green GPIO26 has none; blue GPIO13 would share PWM1, so software.
        assert_eq!(
            drives,
            vec![("red", 19, "hardware PWM1"), ("green", 26, "software PWM"), ("blue", 13, "software PWM")]
        );
        let (_, soft) = plan(&led("[led]\nbackend = \"auto\"\n"), true);
        assert!(soft.iter().all(|c| c.drive == "software PWM"));
        let (name, sim) = plan(&led("[led]\nbackend = \"auto\"\n"), false);
        assert_eq!((name, sim[1].drive.as_str()), ("sim", "simulated"));
    }
}
