//! `latency.hlog`: an HdrHistogram interval log, readable by HdrHistogram's own tools (`HistogramLogProcessor`,
//! HdrHistogram Log Analyzer) and by [`read`] (which [`super::merge`] uses to add runs together exactly).
//!
//! The crate writes data lines but not the header the Java tools expect, so [`Writer::new`] writes it:
//!
//! ```text
//! #[Logged with lampi-agent 0.1.0]
//! #[Values in microseconds. Tag=<kind>.<name>: corrected latency; Tag=svc:<kind>.<name>: raw service time]
//! #[Histogram log format version 1.3]
//! #[StartTime: 1795790917.000 (seconds since epoch), Fri Nov 27 14:48:37 UTC 2026]
//! #[BaseTime: 1795790917.000 (seconds since epoch)]
//! "StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"
//! Tag=MQTT.roundtrip,0.000,10.000,4095.000,HISTFAAAA...
//! Tag=svc:MQTT.roundtrip,0.000,10.000,2047.000,HISTFAAAA...
//! ```
//!
//! Each closed interval gives two lines per operation that had samples (none for an idle one): the corrected
//! latency under `Tag=<kind>.<name>` and the raw service time under `Tag=svc:<kind>.<name>`. `StartTimestamp` is
//! seconds since `BaseTime` (= `StartTime`, the run's start), so readers need no heuristics. **Values, and
//! `Interval_Max`, are microseconds**, not the Java tools' default nanoseconds: give `HistogramLogProcessor`
//! `-outputValueUnitRatio 1000` to read milliseconds. Tags may not hold `,`, spaces or line breaks (the format splits
//! on them); those become `_`, so `GET./lampi/device/[id]` is kept as is.

use std::io::{self, Write};
use std::time::Duration;

use base64::Engine as _;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, IntervalLogWriterError, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializeError, V2Serializer};
use hdrhistogram::{Counter, Histogram};
use time::format_description::FormatItem;
use time::macros::format_description;
use time::OffsetDateTime;

use super::{Error, IntervalReport, Op};

/// Marks the raw service-time histogram of an operation.
pub const SERVICE_PREFIX: &str = "svc:";
/// Tag prefix of start lateness (how late attempts started), so merged runs keep their `late_*` figures.
pub const LATE_PREFIX: &str = "late:";
/// The legend line, pinned.
pub const LEGEND: &str = "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"";

/// The comment line that says what the values and tags are.
const UNITS: &str = "#[Values in microseconds. Tag=<kind>.<name>: corrected latency; Tag=svc:<kind>.<name>: raw \
                     service time; Tag=late:<kind>.<name>: start lateness]";

/// Java's `Date.toString()`, which the `StartTime` line carries for humans.
const HUMAN: &[FormatItem<'static>] =
    format_description!("[weekday repr:short] [month repr:short] [day] [hour]:[minute]:[second] UTC [year]");

/// The tag of an operation's corrected latency: `<kind>.<name>`, made safe for the format.
pub fn tag(op: &Op) -> String {
    format!("{}.{}", op.kind, op.name).replace(|c: char| c == ',' || c.is_whitespace(), "_")
}

/// The tag of an operation's raw service time: `svc:<kind>.<name>`.
pub fn service_tag(op: &Op) -> String {
    format!("{SERVICE_PREFIX}{}", tag(op))
}

/// The tag of an operation's start lateness: `late:<kind>.<name>`.
pub fn late_tag(op: &Op) -> String {
    format!("{LATE_PREFIX}{}", tag(op))
}

/// Writes `latency.hlog` incrementally: the header on creation, three lines per active operation on each
/// [`Writer::write`].
pub struct Writer<W: Write> {
    out: W,
    start: OffsetDateTime,
    serializer: Deflate,
}

impl<W: Write> Writer<W> {
    /// Writes the header for a run that started at `start` (the recorder's anchor) and flushes.
    pub fn new(mut out: W, start: OffsetDateTime) -> io::Result<Writer<W>> {
        let millis = start.unix_timestamp_nanos().div_euclid(1_000_000);
        let epoch = format!("{}.{:03}", millis.div_euclid(1000), millis.rem_euclid(1000));
        let human = start.to_offset(time::UtcOffset::UTC).format(HUMAN).map_err(io::Error::other)?;
        writeln!(out, "#[Logged with lampi-agent {}]", env!("CARGO_PKG_VERSION"))?;
        writeln!(out, "{UNITS}")?;
        writeln!(out, "#[Histogram log format version 1.3]")?;
        writeln!(out, "#[StartTime: {epoch} (seconds since epoch), {human}]")?;
        writeln!(out, "#[BaseTime: {epoch} (seconds since epoch)]")?;
        writeln!(out, "{LEGEND}")?;
        out.flush()?;
        Ok(Writer { out, start, serializer: Deflate::new() })
    }

    /// Writes the histograms of one closed interval, then flushes.
    pub fn write(&mut self, report: &IntervalReport) -> Result<(), Error> {
        let offset = Duration::try_from(report.start - self.start).unwrap_or(Duration::ZERO);
        for (op, s) in report.ops.iter().filter(|(_, s)| !s.is_empty()) {
            self.line(&tag(op), &s.latency, offset, report.length)?;
            self.line(&service_tag(op), &s.service, offset, report.length)?;
            self.line(&late_tag(op), &s.lateness, offset, report.length)?;
        }
        Ok(self.out.flush()?)
    }

    fn line(&mut self, tag: &str, h: &Histogram<u64>, offset: Duration, length: Duration) -> Result<(), Error> {
        // An empty builder writes no header lines: it is just the crate's way to format one data line.
        let mut log = IntervalLogWriterBuilder::new().begin_log_with(&mut self.out, &mut self.serializer)?;
        let checked = Tag::new(tag).expect("tag() replaced every character the format forbids");
        log.write_histogram(h, offset, length, Some(checked)).map_err(|e| match e {
            IntervalLogWriterError::IoError(e) => Error::Io(e),
            IntervalLogWriterError::SerializeError(source) => Error::Encode { tag: tag.to_string(), source },
        })
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// hdrhistogram's V2 deflate encoding (what `V2DeflateSerializer` writes, byte for byte) with ONE zlib compressor
/// for the whole log: the crate's serializer makes a new one, hundreds of KB of tables allocated and zeroed, for
/// every histogram, and a run writes three per active operation every interval (the recorder's writer thread spent
/// a fifth of its time there).
struct Deflate {
    v2: V2Serializer,
    plain: Vec<u8>,
    packed: Vec<u8>,
    zlib: flate2::Compress,
}

/// The V2 compressed encoding's cookie (private in the crate: `V2_COMPRESSED_COOKIE`).
const V2_COMPRESSED_COOKIE: u32 = 0x1c84_9304 | 0x10;

impl Deflate {
    fn new() -> Deflate {
        let zlib = flate2::Compress::new(flate2::Compression::default(), true);
        Deflate { v2: V2Serializer::new(), plain: Vec::new(), packed: Vec::new(), zlib }
    }
}

impl Serializer for Deflate {
    type SerializeError = V2DeflateSerializeError;

    fn serialize<T: Counter, W: Write>(
        &mut self,
        h: &Histogram<T>,
        out: &mut W,
    ) -> Result<usize, Self::SerializeError> {
        self.plain.clear();
        self.v2.serialize(h, &mut self.plain).map_err(V2DeflateSerializeError::InternalSerializationError)?;
        self.packed.clear();
        self.packed.extend_from_slice(&V2_COMPRESSED_COOKIE.to_be_bytes());
        self.packed.extend_from_slice(&[0; 4]); // the compressed length, below
        self.zlib.reset();
        loop {
            self.packed.reserve(self.plain.len() / 2 + 64);
            let rest = &self.plain[self.zlib.total_in() as usize..];
            match self.zlib.compress_vec(rest, &mut self.packed, flate2::FlushCompress::Finish) {
                Ok(flate2::Status::StreamEnd) => break,
                Ok(_) => {}
                Err(e) => return Err(V2DeflateSerializeError::IoError(io::Error::other(e))),
            }
        }
        let length = u32::try_from(self.packed.len() - 8).map_err(|_| io::Error::other("histogram over 4 GiB"))?;
        self.packed[4..8].copy_from_slice(&length.to_be_bytes());
        out.write_all(&self.packed)?;
        Ok(self.packed.len())
    }
}

/// One interval histogram read back from a log.
#[derive(Debug)]
pub struct Interval {
    pub tag: Option<String>,
    /// Seconds since the log's `BaseTime` (or since the epoch if it has none), as written.
    pub start: Duration,
    pub length: Duration,
    pub histogram: Histogram<u64>,
}

/// Reads an interval log, decoding each histogram and handing it to `each` (so memory does not grow with the log).
/// Returns the log's `StartTime`, if it has one.
pub fn read(input: &[u8], mut each: impl FnMut(Interval)) -> Result<Option<Duration>, Error> {
    let mut start_time = None;
    let mut deserializer = Deserializer::new();
    let mut index = 0;
    for entry in IntervalLogIterator::new(input) {
        let entry = entry.map_err(|e| match e {
            hdrhistogram::serialization::interval_log::LogIteratorError::ParseError { offset } => {
                Error::HlogSyntax { offset }
            }
        })?;
        let line = match entry {
            LogEntry::StartTime(t) => {
                start_time = Some(t);
                continue;
            }
            LogEntry::BaseTime(_) => continue,
            LogEntry::Interval(line) => line,
        };
        let tag = line.tag().map(|t| t.as_str().to_string());
        let fail = |detail: String| Error::HlogDecode { index, tag: tag.clone().unwrap_or_default(), detail };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(line.encoded_histogram())
            .map_err(|e| fail(format!("bad base64: {e}")))?;
        let histogram = deserializer.deserialize(&mut &bytes[..]).map_err(|e| fail(format!("{e:?}")))?;
        each(Interval { tag, start: line.start_timestamp(), length: line.duration(), histogram });
        index += 1;
    }
    Ok(start_time)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::recorder::tests::{ms as millis, recorder, sample};
    use std::collections::BTreeMap;

    #[test]
    fn tags_are_made_safe_for_the_format() {
        assert_eq!(tag(&Op::new("GET", "/lampi/device/[id]")), "GET./lampi/device/[id]");
        assert_eq!(tag(&Op::new("MQTT", "roundtrip")), "MQTT.roundtrip");
        assert_eq!(service_tag(&Op::new("GET", "/a b,c\nd")), "svc:GET./a_b_c_d");
        assert!(Tag::new(&tag(&Op::new("GET", "/a b,c\r\nd\t"))).is_some());
    }

    #[test]
    fn header_is_pinned() {
        let (r, _) = recorder();
        let out = Writer::new(Vec::new(), r.start()).unwrap().into_inner();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(
                "#[Logged with lampi-agent {}]\n\
#[Values in microseconds. Tag=<kind>.<name>: corrected latency; Tag=svc:<kind>.<name>: raw service time; \
             Tag=late:<kind>.<name>: start lateness]\n\
#[Histogram log format version 1.3]\n\
#[StartTime: 1795790917.000 (seconds since epoch), Fri Nov 27 14:48:37 UTC 2026]\n\
#[BaseTime: 1795790917.000 (seconds since epoch)]\n\
\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n",
                env!("CARGO_PKG_VERSION")
            )
        );
    }

    #[test]
    fn the_log_reads_back_with_the_same_counts_and_maxima() {
        let (mut r, t0) = recorder();
        let rt = r.op("MQTT", "roundtrip");
        let dev = r.op("GET", "/lampi/device/[id]");
        let mut w = Writer::new(Vec::new(), r.start()).unwrap();
        let mut expected = BTreeMap::new();
        for interval in 0..3u64 {
            for i in 0..50 {
                sample(&mut r, rt, t0, interval * 1000 + i, i, 5 + i); // late by i ms
            }
            if interval != 1 {
                sample(&mut r, dev, t0, interval * 1000, 0, 250);
            }
            let report = r.roll(t0 + millis((interval + 1) * 1000));
            for (op, s) in report.ops.iter().filter(|(_, s)| !s.is_empty()) {
                expected.insert((tag(op), interval), (s.count, s.latency.max()));
                expected.insert((service_tag(op), interval), (s.count, s.service.max()));
                expected.insert((late_tag(op), interval), (s.count, s.lateness.max()));
            }
            w.write(&report).unwrap();
        }
        let log = w.into_inner();
        let mut seen = BTreeMap::new();
        let start = read(&log, |i| {
            let interval = i.start.as_secs();
            assert_eq!(i.length, Duration::from_secs(1));
            seen.insert((i.tag.unwrap(), interval), (i.histogram.len(), i.histogram.max()));
        })
        .unwrap();
        assert_eq!(start, Some(Duration::from_secs(1_795_790_917)));
        assert_eq!(seen, expected);
        assert_eq!(seen.len(), 3 * 3 + 2 * 3, "no lines for the idle interval of /lampi/device/[id]");
        let (_, lat_max) = seen[&("MQTT.roundtrip".to_string(), 2)];
        let (_, svc_max) = seen[&("svc:MQTT.roundtrip".to_string(), 2)];
        assert!(lat_max > svc_max, "corrected latency includes lateness: {lat_max} vs {svc_max}");
    }

    #[test]
    fn one_compressor_for_the_log_encodes_as_the_crate_does() {
        let mut ours = Deflate::new();
        let mut theirs = hdrhistogram::serialization::V2DeflateSerializer::new();
        let mut h = crate::metrics::stats::histogram();
        for round in 0..4u64 {
            for v in 0..(round * 5_000) {
                crate::metrics::stats::record_micros(&mut h, (v * 7919 + round) % 3_000_000 + 1);
            }
            let (mut a, mut b) = (Vec::new(), Vec::new());
            ours.serialize(&h, &mut a).unwrap();
            theirs.serialize(&h, &mut b).unwrap();
            assert_eq!(a, b, "round {round}: not the crate's bytes");
            let back: Histogram<u64> = Deserializer::new().deserialize(&mut &a[..]).unwrap();
            assert_eq!(back, h, "round {round}");
            h.reset();
        }
    }

    #[test]
    fn damage_is_reported_not_ignored() {
        let bad = b"#[Histogram log format version 1.3]\nTag=x,0.000,1.000,1.000,bm90IGEgaGlzdG9ncmFt\n";
        let err = read(bad, |_| {}).unwrap_err();
        assert!(matches!(err, Error::HlogDecode { index: 0, ref tag, .. } if tag == "x"), "{err}");
        let err = read(b"Tag=x,zero\n", |_| {}).unwrap_err();
        assert!(matches!(err, Error::HlogSyntax { offset: 0 }), "{err}");
    }
}
