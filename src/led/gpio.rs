//! The rppal backend: the only file that imports rppal (retired upstream at 0.22.1; keep it contained here).
//!
//! Each colour runs software PWM (rppal's `OutputPin` soft PWM, any pin) unless `led.pwm = "auto"` and its pin has a
//! free hardware channel (GPIO12/18 -> PWM0, GPIO13/19 -> PWM1 before the Pi 5; 13 and 19 share one channel, so only
//! the first of them gets it). GPIO26 (LAMPI's green) has no hardware PWM on any Pi.

use rppal::gpio::{Gpio, OutputPin};
use rppal::pwm::{Channel as PwmChannel, Polarity, Pwm};

use super::{Channel, Led, LedError, COLOURS};
use crate::config::{self, PwmMode};
use crate::lamp::colour::Duties;

enum Drive {
    Soft(OutputPin),
    Hard(Pwm, PwmChannel),
}

pub struct Rppal {
    pins: [u8; 3],
    drives: Vec<Drive>,
    frequency: f64,
    current: Duties,
}

fn hardware_channel(pin: u8) -> Option<PwmChannel> {
    match super::hardware_pwm_channel(pin)? {
        0 => Some(PwmChannel::Pwm0),
        _ => Some(PwmChannel::Pwm1),
    }
}

fn gpio_error(pin: u8, e: rppal::gpio::Error) -> LedError {
    match e {
        rppal::gpio::Error::PermissionDenied(path) => LedError::Permission { detail: path },
        other => LedError::Gpio { pin, detail: other.to_string() },
    }
}

impl Rppal {
    pub fn open(cfg: &config::Led) -> Result<Rppal, LedError> {
        let gpio = Gpio::new().map_err(|e| gpio_error(cfg.pins[0], e))?;
        let mut used: Vec<PwmChannel> = Vec::new();
        let mut drives = Vec::with_capacity(3);
        for &pin in &cfg.pins {
            let hw = hardware_channel(pin).filter(|c| cfg.pwm == PwmMode::Auto && !used.contains(c));
            let drive = match hw {
                Some(ch) => {
                    let pwm = Pwm::with_frequency(ch, cfg.frequency_hz, 0.0, Polarity::Normal, true)
                        .map_err(|e| LedError::HardwarePwm { pin, detail: e.to_string() })?;
                    used.push(ch);
                    Drive::Hard(pwm, ch)
                }
                None => Drive::Soft(gpio.get(pin).map_err(|e| gpio_error(pin, e))?.into_output_low()),
            };
            drives.push(drive);
        }
        Ok(Rppal { pins: cfg.pins, drives, frequency: cfg.frequency_hz, current: Duties::OFF })
    }
}

impl Led for Rppal {
    fn set(&mut self, duties: Duties) -> Result<(), LedError> {
        for ((drive, &duty), &pin) in self.drives.iter_mut().zip(&duties.0).zip(&self.pins) {
            let duty = duty.clamp(0.0, 1.0);
            match drive {
                Drive::Soft(out) if duty <= 0.0 => {
                    out.clear_pwm().map_err(|e| gpio_error(pin, e))?;
                    out.set_low();
                }
                Drive::Soft(out) if duty >= 1.0 => {
                    out.clear_pwm().map_err(|e| gpio_error(pin, e))?;
                    out.set_high();
                }
                Drive::Soft(out) => out.set_pwm_frequency(self.frequency, duty).map_err(|e| gpio_error(pin, e))?,
                Drive::Hard(pwm, _) => {
                    pwm.set_duty_cycle(duty).map_err(|e| LedError::HardwarePwm { pin, detail: e.to_string() })?
                }
            }
        }
        self.current = duties;
        Ok(())
    }

    fn current(&self) -> Duties {
        self.current
    }

    fn name(&self) -> &'static str {
        "rppal"
    }

    fn channels(&self) -> Vec<Channel> {
        COLOURS
            .iter()
            .zip(self.pins)
            .zip(&self.drives)
            .map(|((c, pin), d)| Channel {
                colour: c,
                pin,
                drive: match d {
                    Drive::Soft(_) => "software PWM".into(),
                    Drive::Hard(_, PwmChannel::Pwm0) => "hardware PWM0".into(),
                    Drive::Hard(..) => "hardware PWM1".into(),
                },
            })
            .collect()
    }
}
