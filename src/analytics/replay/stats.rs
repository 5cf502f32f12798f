//! What a replay read and played: the figures the run reports (summary.txt, summary.json) and `--dry-run` prints.

use std::fmt;
use std::time::Duration;

use crate::profile::Interface;
use crate::schedule::ActionCounts;

/// What a replay read and played so far; shared with the run, which reports it.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub path: String,
    pub format: String,
    pub bytes: u64,
    pub speed: f64,
    pub lamps: u32,
    pub duration: Duration,
    /// Lines (Mixpanel) or events (Keen) read, blank lines aside; malformed ones and unknown names among them.
    pub records: u64,
    pub bad: u64,
    pub bad_examples: Vec<String>,
    pub unknown: u64,
    pub unattributed: u64,
    /// Usable events read (the look-ahead reads a little past what is played), and the recorded lamps among them.
    pub events: u64,
    pub recorded_lamps: u32,
    /// Recorded state changes and connects: no action of their own.
    pub state_changes: u64,
    pub connects: u64,
    /// Sessions started (their first action played), per interface (by [`Interface::index`]).
    pub sessions: [u64; 3],
    pub played: ActionCounts,
    /// Events played later than recorded (out of order in the export).
    pub out_of_order: u64,
    /// Reconnects played before their lamp's recorded connect (offline cut to what was known).
    pub offline_cut: u64,
    /// Recorded time (epoch seconds) of the first event and of the last action played.
    pub first_t: f64,
    pub last_t: f64,
    /// The run's `--duration` ended the replay before the trace did.
    pub cut_by_duration: bool,
    /// A read error ended the replay early.
    pub error: Option<String>,
}

impl Stats {
    /// Actions played, all kinds.
    pub fn actions(&self) -> u64 {
        let p = &self.played;
        p.logins + p.pages.iter().sum::<u64>() + p.set_config + p.device_changed + p.reconnects + p.session_ends
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn utc(t: f64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t.floor() as i64).map_or_else(
        |_| format!("{t}"),
        |d| format!("{} {:02}:{:02}:{:02} UTC", d.date(), d.hour(), d.minute(), d.second()),
    )
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.played;
        let span = (self.last_t - self.first_t).max(0.0);
        writeln!(
            f,
            "Replay of {} ({} export, {} bytes) at speed {}: {} recorded onto {} virtual lamp(s) (recorded lamp k plays \
             on lamp k mod {})",
            self.path,
            self.format,
            self.bytes,
            self.speed,
            plural(u64::from(self.recorded_lamps), "lamp", "lamps"),
            self.lamps,
            self.lamps
        )?;
        writeln!(
            f,
            "  trace         {} read ({} malformed, {} unknown, {} unattributed), {} events; played from {} to {} ({} \
             of trace, {} at this speed)",
            plural(self.records, "record", "records"),
            self.bad,
            self.unknown,
            self.unattributed,
            self.events,
            utc(self.first_t),
            utc(self.last_t),
            humantime::format_duration(Duration::from_secs(span.round() as u64)),
            humantime::format_duration(Duration::from_millis((span / self.speed * 1000.0).round() as u64))
        )?;
        let by: Vec<String> =
            Interface::ALL.iter().map(|i| format!("{} {}", i.key(), self.sessions[i.index()])).collect();
        writeln!(f, "  sessions      {}: {}", self.sessions.iter().sum::<u64>(), by.join(", "))?;
        writeln!(
            f,
            "  http          {} logins, {} pages (/ {}, /lampi/ {}, /lampi/device/<id> {})",
            p.logins,
            p.pages.iter().sum::<u64>(),
            p.pages[0],
            p.pages[1],
            p.pages[2]
        )?;
        writeln!(
            f,
            "  mqtt          {} set_config, {} lamp/changed from touchscreens; {} reconnects ({} cut short)",
            p.set_config, p.device_changed, p.reconnects, self.offline_cut
        )?;
        write!(
            f,
            "  not played    {} recorded state changes and {} connects (the lamps under test answer for themselves)",
            self.state_changes, self.connects
        )?;
        if self.out_of_order > 0 {
            write!(f, "\n  out of order  {} events played later than recorded", self.out_of_order)?;
        }
        if self.cut_by_duration {
            write!(
                f,
                "\n  --duration {} ended the replay before the trace",
                humantime::format_duration(self.duration)
            )?;
        }
        if let Some(e) = &self.error {
            write!(f, "\n  ERROR: the trace could not be read to its end: {e}")?;
        }
        if self.bad > 0 {
            write!(f, "\n  malformed records skipped, first: {}", self.bad_examples.join("; "))?;
        }
        Ok(())
    }
}
