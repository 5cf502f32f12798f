//! Deriving usage profiles from recorded analytics: a Mixpanel raw export or a Keen.io extraction in, a
//! [`Profile`] for one time-of-day window out, with a report of what was read.
//!
//! The input is streamed (see `mixpanel` and `keen` for what each format costs in memory) through a SHA-256, so the
//! written profile names exactly the file it came from. Sessions are rebuilt per lamp with an inactivity gap
//! (`sessions`), and only sessions starting in the window count. Bad input is judged, not trusted: malformed lines
//! are counted with their numbers and fail the derivation only past a threshold ([`DeriveOptions::max_bad_lines`]
//! *and* [`DeriveOptions::max_bad_fraction`]); unknown event names are counted, never fatal; an empty file, a
//! truncated JSON document, the wrong `--format` and a window without sessions are each a [`DeriveError`] saying what
//! and where. Pure apart from reading the given reader: the derivation time is passed in.

mod build;
mod cmd;
mod hist;
mod keen;
mod mixpanel;
pub mod replay;
mod sessions;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::{self, BufRead, Read};
use std::str::FromStr;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::profile::{Profile, Window};
pub use cmd::{derive_command, profile_derive_cmd, profile_derive_cmd_at, CmdError};
pub use replay::Replay;
use sessions::Sessions;

/// Which export a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One `{"event": ..., "properties": {...}}` per line.
    Mixpanel,
    /// One JSON object keyed by collection, each a list of events with `keen.timestamp`.
    Keen,
    /// Tell from the first bytes.
    Auto,
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "mixpanel" => Ok(Format::Mixpanel),
            "keen" => Ok(Format::Keen),
            "auto" => Ok(Format::Auto),
            other => Err(format!("{other:?}: expected mixpanel, keen or auto")),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Mixpanel => "mixpanel",
            Format::Keen => "keen",
            Format::Auto => "auto",
        })
    }
}

/// How to derive.
#[derive(Debug, Clone, PartialEq)]
pub struct DeriveOptions {
    /// The profile's name.
    pub name: String,
    /// Hours `[start, end)` of profile time whose sessions count; `end` may be past midnight (`(22, 2)`).
    pub window: (u8, u8),
    /// Profile time = UTC + this many minutes (hours of events are bucketed in profile time).
    pub tz_offset_minutes: i32,
    /// A lamp's silence longer than this ends its session. Default 2 minutes: LAMPI think times are seconds (p99
    /// about 25 s) while a lamp's sessions come about once an hour, so 2 min splits almost no session and merges
    /// few (1 - e^(-1.8/30), about 6% at the evening peak, before the interface change splits most of those).
    /// The web-analytics habit of 30 min would merge more than half of them at that rate.
    pub inactivity_gap: Duration,
    /// Malformed lines (or Keen events) always tolerated. Default 10.
    pub max_bad_lines: u64,
    /// Above `max_bad_lines`, the share of malformed records tolerated. Default 0.01 (1%). Past both, derive fails.
    pub max_bad_fraction: f64,
    /// The fleet size the rates are per lamp of; default: the lamps seen in the export (a silent lamp is invisible).
    pub lamps: Option<u32>,
}

impl Default for DeriveOptions {
    fn default() -> Self {
        DeriveOptions {
            name: "derived".into(),
            window: (18, 23),
            tz_offset_minutes: 0,
            inactivity_gap: Duration::from_secs(120),
            max_bad_lines: 10,
            max_bad_fraction: 0.01,
            lamps: None,
        }
    }
}

/// `"18-23"` -> `(18, 23)`.
pub fn parse_window(s: &str) -> Result<(u8, u8), String> {
    let err = || format!("{s:?}: expected START-END hours such as 18-23 (0-23 and 1-24; 22-2 wraps midnight)");
    let (a, b) = s.split_once('-').ok_or_else(err)?;
    let (a, b): (u8, u8) = (a.trim().parse().map_err(|_| err())?, b.trim().parse().map_err(|_| err())?);
    (a <= 23 && (1..=24).contains(&b) && (a != b % 24 || (a, b) == (0, 24))).then_some((a, b)).ok_or_else(err)
}

/// Why a derivation failed.
#[derive(Debug, thiserror::Error)]
pub enum DeriveError {
    #[error("cannot read the export: {0}")]
    Io(#[source] io::Error),
    #[error("the export is empty ({0} bytes, nothing but white space)")]
    Empty(u64),
    #[error("cannot tell the export's format: {0}; pass --format mixpanel or --format keen")]
    UnknownFormat(String),
    #[error("not a {format} export: {found}; {hint}")]
    WrongFormat { format: &'static str, found: String, hint: String },
    #[error("the Keen extraction ends in the middle of a JSON value at line {line}, column {column} (truncated?)")]
    Truncated { line: usize, column: usize },
    #[error("the Keen extraction is not valid JSON at line {line}, column {column}: {message}")]
    Json { line: usize, column: usize, message: String },
    #[error(
        "{bad} of {records} records are malformed, more than {max_lines} and more than {:.1}%; first ones:\n  {}",
        max_fraction * 100.0, examples.join("\n  ")
    )]
    TooManyBad { bad: u64, records: u64, max_lines: u64, max_fraction: f64, examples: Vec<String> },
    #[error("no usable events in the export ({records} records read, {bad} malformed, {unknown} with unknown names)")]
    NoEvents { records: u64, bad: u64, unknown: u64 },
    #[error("no session starts in the window {window} (UTC{tz}): {sessions} sessions in the export between {first} and {last}")]
    EmptyWindow { window: String, tz: String, sessions: u64, first: String, last: String },
    #[error("bad derive option {option} = {value}: expected {expected}")]
    Option { option: &'static str, value: String, expected: String },
}

/// A derived profile and what it was derived from.
#[derive(Debug, Clone)]
pub struct Derived {
    pub profile: Profile,
    pub report: Report,
}

/// What the derivation read and found (the figures a person checks the profile against).
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub format: String,
    pub bytes: u64,
    pub sha256: String,
    /// Lines (Mixpanel) or events (Keen) read, blank lines aside.
    pub records: u64,
    /// Records by event name (Mixpanel) or collection (Keen), unknown ones aside.
    pub by_name: BTreeMap<String, u64>,
    pub unknown: BTreeMap<String, u64>,
    pub bad: u64,
    /// The first malformed records, with line numbers (or collection[index]).
    pub bad_examples: Vec<String>,
    /// UI events no lamp could be found for (Keen's `device_id: null` without a matching state change).
    pub unattributed: u64,
    /// Events earlier than their lamp's previous one (taken as simultaneous with it).
    pub out_of_order: u64,
    pub lamps: u32,
    pub days: f64,
    pub first: String,
    pub last: String,
    /// Timestamps were whole seconds (think-time quantiles are then smoothed over each second).
    pub whole_seconds: bool,
    pub sessions_total: u64,
    pub sessions_window: u64,
    /// Steps (pages, toggles, drags) in window sessions.
    pub steps_window: u64,
    /// Drags in window sessions, and their mean length in messages.
    pub drags_window: u64,
    pub mean_drag_messages: f64,
    pub mean_controls_per_session: f64,
    pub disconnects_window: u64,
    pub warnings: Vec<String>,
}

/// Event counts shared by the readers.
#[derive(Debug, Default)]
struct Counts {
    pub records: u64,
    pub by_name: BTreeMap<String, u64>,
    pub unknown: BTreeMap<String, u64>,
    pub bad: u64,
    pub bad_examples: Vec<String>,
    pub unattributed: u64,
}

impl Counts {
    pub fn named(&mut self, name: &str) {
        *self.by_name.entry(name.to_string()).or_default() += 1;
    }
    pub fn unknown(&mut self, name: &str) {
        *self.unknown.entry(name.to_string()).or_default() += 1;
    }
}

/// Lamps by device id; users mapped to their lamp.
#[derive(Debug, Default)]
struct Identity {
    ids: HashMap<String, u32>,
    learned: HashMap<String, String>,
}

impl Identity {
    /// The lamp number of a device id.
    pub fn lamp(&mut self, device: &str) -> u32 {
        let n = self.ids.len() as u32;
        *self.ids.entry(device.to_string()).or_insert(n)
    }

    /// Remembers that `user` owns `device` (seen on a detail page or an activation).
    pub fn learn(&mut self, user: &str, device: &str) {
        if user != device {
            self.learned.insert(user.to_string(), device.to_string());
        }
    }

    /// A user's lamp: learned, else the course convention (`user_N` owns `1e0000000000 + N`), else the user as a
    /// lamp of its own.
    pub fn lamp_of_user(&mut self, user: &str) -> u32 {
        if let Some(d) = self.learned.get(user).cloned() {
            return self.lamp(&d);
        }
        if crate::config::is_device_id(user) {
            return self.lamp(user);
        }
        match user.strip_prefix("user_").and_then(|n| n.parse::<u64>().ok()) {
            Some(n) if n < 0x1_0000_0000 => self.lamp(&format!("{:012x}", 0x1e00_0000_0000u64 + n)),
            _ => self.lamp(&format!("user:{user}")),
        }
    }
}

/// Shared state of one derivation.
struct Ctx {
    pub counts: Counts,
    pub identity: Identity,
    pub sessions: Sessions,
}

impl Ctx {
    /// Counts a malformed record, keeping the first few messages.
    pub fn bad(&mut self, what: String) {
        self.counts.bad += 1;
        if self.counts.bad_examples.len() < 5 {
            self.counts.bad_examples.push(what);
        }
    }
}

/// A buffered reader that hashes and counts every byte it reads from `inner`. Bytes are hashed when read in, in
/// blocks (cheap even when serde_json then takes them one at a time); `derive` reads to the end, so the hash is the
/// whole file's.
struct Hashing<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> Hashing<R> {
    fn new(inner: R) -> Self {
        Hashing { inner, buf: vec![0; 1 << 16].into_boxed_slice(), pos: 0, end: 0, hasher: Sha256::new(), bytes: 0 }
    }

    fn hex_digest(self) -> String {
        self.hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = {
            let buf = self.fill_buf()?;
            let n = buf.len().min(out.len());
            out[..n].copy_from_slice(&buf[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for Hashing<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.end {
            let n = loop {
                match self.inner.read(&mut self.buf) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other?,
                }
            };
            self.hasher.update(&self.buf[..n]);
            self.bytes += n as u64;
            (self.pos, self.end) = (0, n);
        }
        Ok(&self.buf[self.pos..self.end])
    }

    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.end);
    }
}

/// Derives a profile for `opts.window` from an export.
pub fn derive(reader: impl Read, format: Format, opts: &DeriveOptions) -> Result<Derived, DeriveError> {
    let window = check_options(opts)?;
    let mut input = Hashing::new(reader);
    let format = resolve(&mut input, format)?;
    let gap = opts.inactivity_gap.as_secs_f64();
    let mut ctx = Ctx {
        counts: Counts::default(),
        identity: Identity::default(),
        sessions: Sessions::new(window, opts.tz_offset_minutes, gap),
    };
    match format {
        Format::Keen => keen::read(&mut input, &mut ctx)?,
        _ => mixpanel::read(&mut input, &mut ctx)?,
    }
    io::copy(&mut input, &mut io::sink()).map_err(DeriveError::Io)?;
    ctx.sessions.finish();
    let c = &ctx.counts;
    if c.bad > opts.max_bad_lines && c.bad as f64 > opts.max_bad_fraction * c.records as f64 {
        return Err(DeriveError::TooManyBad {
            bad: c.bad,
            records: c.records,
            max_lines: opts.max_bad_lines,
            max_fraction: opts.max_bad_fraction,
            examples: c.bad_examples.clone(),
        });
    }
    let bytes = input.bytes;
    build::build(ctx, opts, window, format, input.hex_digest(), bytes)
}

fn check_options(opts: &DeriveOptions) -> Result<Window, DeriveError> {
    let bad = |option, value: String, expected: &str| DeriveError::Option { option, value, expected: expected.into() };
    let (s, e) = opts.window;
    if s > 23 || !(1..=24).contains(&e) || (s == e % 24 && (s, e) != (0, 24)) {
        return Err(bad("window", format!("{s}-{e}"), "START-END hours, 0-23 and 1-24, not equal"));
    }
    if opts.inactivity_gap < Duration::from_secs(1) {
        return Err(bad("inactivity_gap", format!("{:?}", opts.inactivity_gap), "at least 1 s"));
    }
    if !(0.0..=1.0).contains(&opts.max_bad_fraction) {
        return Err(bad("max_bad_fraction", opts.max_bad_fraction.to_string(), "a fraction from 0 to 1"));
    }
    if opts.lamps == Some(0) {
        return Err(bad("lamps", "0".into(), "at least 1"));
    }
    if opts.name.is_empty() || !opts.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(bad("name", format!("{:?}", opts.name), "letters, digits, '-' or '_'"));
    }
    Ok(Window { start: s, end: e })
}

/// Resolves `Auto` from the first key of the first JSON object: `"event"`/`"properties"` is Mixpanel, a key whose
/// value is a list is Keen. Fails on an empty input whatever the format.
fn resolve(input: &mut impl BufRead, format: Format) -> Result<Format, DeriveError> {
    let mut blank = 0u64;
    let head = loop {
        let buf = input.fill_buf().map_err(DeriveError::Io)?;
        if buf.is_empty() {
            return Err(DeriveError::Empty(blank));
        }
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => break buf[i..].to_vec(),
            None => {
                let n = buf.len();
                blank += n as u64;
                input.consume(n);
            }
        }
    };
    if format != Format::Auto {
        return Ok(format);
    }
    let text = String::from_utf8_lossy(&head[..head.len().min(4096)]).into_owned();
    let first_key = text.strip_prefix('{').map(str::trim_start).and_then(|t| t.strip_prefix('"')).and_then(|t| {
        let (key, rest) = t.split_once('"')?;
        Some((key.to_string(), rest.trim_start().strip_prefix(':')?.trim_start().chars().next()))
    });
    match first_key {
        Some((k, _)) if k == "event" || k == "properties" => Ok(Format::Mixpanel),
        Some((_, Some('['))) => Ok(Format::Keen),
        Some((k, _)) => Err(DeriveError::UnknownFormat(format!("the first object's first key is {k:?}"))),
        None => Err(DeriveError::UnknownFormat(format!(
            "the input starts with {:?}",
            text.chars().take(20).collect::<String>()
        ))),
    }
}

#[cfg(test)]
mod tests;
