//! Locust's statistics of one reporting interval, built from our samples: a `StatsEntry` per (method, name), the
//! `Aggregated` total, and the errors, as a Locust worker sends them every 3 s (LOCUST.md, "A statistics entry").
//!
//! Every request goes into its entry and into the total (the master does not recompute the total from the entries).
//! Response times go into Locust's buckets by Locust's own rule ([`bucket`], Python's round-half-even); counts per
//! unix second are keyed by the second the request finished, as Locust's `int(time.time())`. Errors are keyed as
//! Locust keys them, so they stay stable across reports and merge with the same error from any worker. [`Tally::take`]
//! returns the interval's delta and starts the next one. Pure: times come in as unix seconds.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// One `StatsEntry.serialize()`: an operation's figures over the interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub name: String,
    pub method: String,
    pub last_request_timestamp: Option<f64>,
    /// The interval's start (unix seconds), never 0.
    pub start_time: f64,
    /// Every request, failed ones included (as in Locust).
    pub num_requests: u64,
    pub num_failures: u64,
    /// Milliseconds, summed.
    pub total_response_time: f64,
    pub max_response_time: f64,
    pub min_response_time: Option<f64>,
    pub total_content_length: u64,
    /// Bucketed milliseconds -> requests.
    pub response_times: BTreeMap<u64, u64>,
    /// Unix second -> requests finished in it.
    pub num_reqs_per_sec: BTreeMap<i64, u64>,
    pub num_fail_per_sec: BTreeMap<i64, u64>,
}

impl Entry {
    fn new(method: &str, name: &str, start_time: f64) -> Entry {
        Entry {
            name: name.to_string(),
            method: method.to_string(),
            last_request_timestamp: None,
            start_time,
            num_requests: 0,
            num_failures: 0,
            total_response_time: 0.0,
            max_response_time: 0.0,
            min_response_time: None,
            total_content_length: 0,
            response_times: BTreeMap::new(),
            num_reqs_per_sec: BTreeMap::new(),
            num_fail_per_sec: BTreeMap::new(),
        }
    }

    fn log(&mut self, r: &Request) {
        let second = r.at.floor() as i64;
        self.num_requests += 1;
        self.last_request_timestamp = Some(self.last_request_timestamp.map_or(r.at, |t| t.max(r.at)));
        self.total_response_time += r.response_ms;
        self.max_response_time = self.max_response_time.max(r.response_ms);
        self.min_response_time = Some(self.min_response_time.map_or(r.response_ms, |m| m.min(r.response_ms)));
        self.total_content_length += r.content_length;
        *self.response_times.entry(bucket(r.response_ms)).or_default() += 1;
        *self.num_reqs_per_sec.entry(second).or_default() += 1;
        if r.error.is_some() {
            self.num_failures += 1;
            *self.num_fail_per_sec.entry(second).or_default() += 1;
        }
    }
}

/// One `StatsError.to_dict()`: an error's occurrences over the interval.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorEntry {
    pub method: String,
    pub name: String,
    pub error: String,
    pub occurrences: u64,
    pub first_seen: f64,
    pub last_seen: f64,
}

/// What one report carries: the entries, the total (`Aggregated`, method `""`), the errors by key.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub entries: Vec<Entry>,
    pub total: Entry,
    pub errors: BTreeMap<String, ErrorEntry>,
}

impl Report {
    /// Requests in this report.
    pub fn requests(&self) -> u64 {
        self.total.num_requests
    }
}

/// One finished request, as Locust sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Request<'a> {
    pub method: &'a str,
    pub name: &'a str,
    pub response_ms: f64,
    pub content_length: u64,
    /// When it finished, unix seconds.
    pub at: f64,
    /// The failure's name, if it failed.
    pub error: Option<&'a str>,
}

/// The running interval.
#[derive(Debug, Clone)]
pub struct Tally {
    start: f64,
    entries: BTreeMap<(String, String), Entry>,
    total: Entry,
    errors: BTreeMap<String, ErrorEntry>,
}

/// The total's name, as Locust's.
pub const AGGREGATED: &str = "Aggregated";

impl Tally {
    /// An empty interval starting at `start` (unix seconds).
    pub fn new(start: f64) -> Tally {
        Tally { start, entries: BTreeMap::new(), total: Entry::new("", AGGREGATED, start), errors: BTreeMap::new() }
    }

    pub fn record(&mut self, r: &Request) {
        let key = (r.method.to_string(), r.name.to_string());
        let start = self.start;
        self.entries.entry(key).or_insert_with(|| Entry::new(r.method, r.name, start)).log(r);
        self.total.log(r);
        if let Some(error) = r.error {
            let e = self.errors.entry(error_key(r.method, r.name, error)).or_insert_with(|| ErrorEntry {
                method: r.method.to_string(),
                name: r.name.to_string(),
                error: error.to_string(),
                occurrences: 0,
                first_seen: r.at,
                last_seen: r.at,
            });
            e.occurrences += 1;
            e.first_seen = e.first_seen.min(r.at);
            e.last_seen = e.last_seen.max(r.at);
        }
    }

    /// The interval so far, as a report; the next interval starts at `now` (unix seconds), empty.
    pub fn take(&mut self, now: f64) -> Report {
        let done = std::mem::replace(self, Tally::new(now));
        Report { entries: done.entries.into_values().collect(), total: done.total, errors: done.errors }
    }
}

/// Locust's `bucket_response_time`: whole ms below 100 ms, then tens, hundreds, thousands, each rounded half to even
/// as Python's `round` does (145 -> 140, 155 -> 160, 2.5 -> 2).
pub fn bucket(ms: f64) -> u64 {
    let unit = match ms {
        m if m < 100.0 => 1.0,
        m if m < 1_000.0 => 10.0,
        m if m < 10_000.0 => 100.0,
        _ => 1_000.0,
    };
    ((ms / unit).round_ties_even() * unit).max(0.0) as u64
}

/// Locust's `StatsError.create_key`: the SHA-256 hex of `f"{method}.{name}.{error!r}"`.
pub fn error_key(method: &str, name: &str, error: &str) -> String {
    let text = format!("{method}.{name}.{}", py_repr(error));
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Python's `repr` of a str: single quotes unless the text has a `'` and no `"`; backslash escapes for the quote,
/// `\\`, `\t`, `\n`, `\r` and other control characters.
fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (0x7f..0xa0).contains(&(c as u32)) => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_pythons_round_half_even() {
        // Python: round(2.5) == 2, round(145.0, -1) == 140.0, round(155.0, -1) == 160.0, round(99.5) == 100, ...
        let cases = [
            (0.4, 0),
            (0.5, 0),
            (1.5, 2),
            (2.5, 2),
            (3.5, 4),
            (99.4, 99),
            (99.5, 100),
            (145.0, 140),
            (147.0, 150),
            (155.0, 160),
            (999.0, 1000),
            (1250.0, 1200),
            (1350.0, 1400),
            (3432.0, 3400),
            (10500.0, 10000),
            (11500.0, 12000),
            (58760.0, 59000),
        ];
        for (ms, want) in cases {
            assert_eq!(bucket(ms), want, "{ms} ms");
        }
    }

    #[test]
    fn error_keys_are_locusts() {
        // Each key computed by Python: hashlib.sha256(f"{method}.{name}.{error!r}".encode()).hexdigest()
        let cases = [
            ("GET", "/login/", "HTTP 500", "4995625f1ef734ecbe80b3fdf86da40a2b39d910992547b6e02fc787b82e7f61"),
            (
                "MQTT",
                "roundtrip",
                "no answer within 5s",
                "60abed27ed4a9a27dfdc8c2810d0bd5439e3c2f4053f105b071e19222947b32d",
            ),
            ("GET", "/x", "it's", "2039e33d1d5db16b14565e91d1d3436e0c272e137344fa52a6130562acdaca8c"),
            ("GET", "/x", "a\tb\"c'", "b87cd90a5b1b7619f4d26f715c5b3a1844db72c5c5c46ff35331640c529d6274"),
        ];
        for (m, n, e, key) in cases {
            assert_eq!(error_key(m, n, e), key, "{m} {n} {e:?}");
        }
        assert_eq!(py_repr("it's"), "\"it's\"");
        assert_eq!(py_repr("a\tb\"c'"), "'a\\tb\"c\\''");
    }

    fn req<'a>(name: &'a str, ms: f64, at: f64, error: Option<&'a str>) -> Request<'a> {
        Request { method: "GET", name, response_ms: ms, content_length: 100, at, error }
    }

    #[test]
    fn a_tally_counts_each_request_in_its_entry_and_the_total_and_resets() {
        let mut t = Tally::new(1000.0);
        t.record(&req("/", 12.4, 1000.2, None));
        t.record(&req("/", 145.0, 1001.9, Some("HTTP 500")));
        t.record(&req("/lampi/", 3.0, 1002.0, Some("HTTP 500")));
        t.record(&req("/", 20.0, 1002.5, Some("HTTP 500")));
        let r = t.take(1003.0);
        assert_eq!(r.entries.len(), 2);
        let root = &r.entries[0];
        assert_eq!((root.name.as_str(), root.num_requests, root.num_failures), ("/", 3, 2));
        assert_eq!(root.response_times, BTreeMap::from([(12, 1), (140, 1), (20, 1)]));
        assert_eq!(root.num_reqs_per_sec, BTreeMap::from([(1000, 1), (1001, 1), (1002, 1)]));
        assert_eq!(root.num_fail_per_sec, BTreeMap::from([(1001, 1), (1002, 1)]));
        assert_eq!((root.min_response_time, root.max_response_time), (Some(12.4), 145.0));
        assert_eq!(
            (root.total_content_length, root.start_time, root.last_request_timestamp),
            (300, 1000.0, Some(1002.5))
        );
        assert_eq!((r.total.name.as_str(), r.total.method.as_str()), (AGGREGATED, ""));
        assert_eq!((r.total.num_requests, r.total.num_failures, r.requests()), (4, 3, 4));
        assert!((r.total.total_response_time - 180.4).abs() < 1e-9);
        assert_eq!(r.errors.len(), 2, "one per (method, name, error)");
        let e = &r.errors[&error_key("GET", "/", "HTTP 500")];
        assert_eq!((e.occurrences, e.first_seen, e.last_seen), (2, 1001.9, 1002.5));
        // The next report is a delta: empty, starting where the last one was taken.
        let next = t.take(1006.0);
        assert!(next.entries.is_empty() && next.errors.is_empty());
        assert_eq!((next.total.num_requests, next.total.start_time, next.total.min_response_time), (0, 1003.0, None));
    }
}
