//! Derivation tests: error cases on small inputs, the figures recovered from the shared sample exports against the
//! parameters that generated them (shared/data/README.md), and the shipped derived profiles against a fresh derivation.

use super::*;
use crate::profile::{Interface, SHIPPED};
use std::io::Cursor;
use std::path::{Path, PathBuf};

/// A sample export from `../shared/data`, or None (saying so) where the shared folder is absent.
pub(crate) fn sample(name: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data").join(name);
    if p.is_file() {
        Some(p)
    } else {
        eprintln!("SKIPPED: sample export {} is absent", p.display());
        None
    }
}

fn derive_file(path: &Path, format: Format, opts: &DeriveOptions) -> Derived {
    let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    derive(file, format, opts).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn derive_str(text: &str, format: Format) -> Result<Derived, DeriveError> {
    derive(Cursor::new(text.as_bytes()), format, &DeriveOptions { window: (0, 24), ..DeriveOptions::default() })
}

fn near(what: &str, got: f64, want: f64, tolerance: f64) {
    let rel = (got - want) / want;
    assert!(rel.abs() <= tolerance, "{what}: {got} vs {want} ({:+.1}%, allowed ±{}%)", rel * 100.0, tolerance * 100.0);
}

/// The generating parameters: rates by hour 18..23, 30/30/15/25 action mix, 1 + Geometric(0.45) controls per
/// session (failures counted: mean 1/0.45), think median 4 s, drags of 1 + Geometric(0.15) messages (mean 6.67 with
/// failures counted: the data's mean is 6.64-6.67, not 7.67), half the sessions on the web.
fn check_against_generator(d: &Derived, rate_tolerance: f64, mix_tolerance: f64) {
    let p = &d.profile;
    for (rate, want) in p.rates.iter().zip([1.2, 1.6, 1.8, 1.5, 0.9]) {
        near("sessions per lamp per hour", *rate, want, rate_tolerance);
    }
    near("rate at 20:00", p.rates[2], 1.8, 0.15);
    let mix = p.controls_per_session();
    let total: f64 = mix.iter().sum();
    for (k, want) in [0.30, 0.30, 0.15, 0.25].iter().enumerate() {
        assert!((mix[k] / total - want).abs() < mix_tolerance, "action mix {k}: {} vs {want}", mix[k] / total);
    }
    near("controls per session (profile)", total, 1.0 / 0.45, 0.06);
    near("controls per session (data)", d.report.mean_controls_per_session, 1.0 / 0.45, 0.06);
    near("think-time median", p.think.control.median(), 4.0, 0.15);
    near("mean drag messages (data)", d.report.mean_drag_messages, 1.0 + 0.85 / 0.15, 0.05);
    near("mean drag messages (profile)", p.drag.length.mean(), 1.0 + 0.85 / 0.15, 0.05);
    near("web share", p.share_of(Interface::Web), 0.5, 0.1);
    assert_eq!(d.report.bad, 0);
    assert_eq!(d.report.unattributed, 0);
}

#[test]
fn mixpanel_sample_recovers_the_generating_parameters() {
    let Some(path) = sample("analytics-mixpanel.jsonl") else { return };
    let d = derive_file(&path, Format::Auto, &DeriveOptions::default());
    assert_eq!(d.report.format, "mixpanel");
    assert_eq!((d.report.lamps, d.report.days), (30, 7.0));
    assert!(d.report.whole_seconds);
    assert_eq!(d.report.records, 35_852);
    check_against_generator(&d, 0.1, 0.025);
}

#[test]
fn keen_sample_recovers_the_generating_parameters() {
    let Some(path) = sample("analytics-keen.json") else { return };
    let d = derive_file(&path, Format::Auto, &DeriveOptions::default());
    assert_eq!(d.report.format, "keen");
    assert_eq!((d.report.lamps, d.report.days), (20, 3.0));
    assert!(!d.report.whole_seconds);
    // 60 lamp-hours per hour of day (Poisson noise alone about ±10%) and about 930 controls (±1.5 points).
    check_against_generator(&d, 0.15, 0.04);
}

/// The options each shipped derived profile was made with (the command is in each file's header).
fn shipped_options(name: &str) -> DeriveOptions {
    let window = if name == "morning" { (6, 10) } else { (18, 23) };
    DeriveOptions { name: name.into(), window, ..DeriveOptions::default() }
}

#[test]
fn shipped_derived_profiles_have_not_drifted() {
    let Some(path) = sample("analytics-mixpanel.jsonl") else { return };
    for name in ["evening", "morning"] {
        let shipped = SHIPPED.iter().find(|(n, _)| *n == name).unwrap().1;
        assert!(shipped.contains("lampi-agent profile derive --format mixpanel"), "{name} does not record its command");
        let d = derive_file(&path, Format::Mixpanel, &shipped_options(name));
        let fresh = d.to_toml("x", "x", time::OffsetDateTime::UNIX_EPOCH);
        let fresh = Profile::from_toml(&fresh, name).unwrap();
        let shipped = Profile::from_toml(shipped, name).unwrap();
        let d = Derived { profile: Profile { origin: name.into(), ..d.profile }, report: d.report };
        assert_eq!(fresh, shipped, "config/profiles/{name}.toml differs from a fresh derivation: re-derive it");
        assert_eq!(d.profile, fresh, "the derived profile is not exactly what its file reads back as");
    }
}

/// Re-derives the shipped evening and morning profiles: `cargo test --lib regenerate -- --ignored`.
#[test]
#[ignore]
fn regenerate_shipped_profiles() {
    let Some(_) = sample("analytics-mixpanel.jsonl") else { return };
    let input = Path::new("../shared/data/analytics-mixpanel.jsonl");
    for name in ["evening", "morning"] {
        let out = PathBuf::from(format!("config/profiles/{name}.toml"));
        let t0 = std::time::Instant::now();
        let report =
            profile_derive_cmd(input, Format::Mixpanel, &shipped_options(name), Some(&out), &mut std::io::sink())
                .unwrap();
        println!("{report}\n  took {:?}", t0.elapsed());
    }
}

#[test]
fn header_names_the_source_by_hash_and_counts() {
    let line = r#"{"event":"Toggle Power","properties":{"time":1790035785,"distinct_id":"user_000001","interface":"web","isOn":false}}"#;
    let text = format!("{line}\n{}\n", line.replace("1790035785", "1790035790"));
    let d = derive_str(&text, Format::Mixpanel).unwrap();
    // sha256 of exactly these bytes, as `sha256sum` prints it.
    assert_eq!(d.report.sha256.len(), 64);
    assert_eq!(d.report.bytes, text.len() as u64);
    let when = time::macros::datetime!(2026-11-27 16:00 UTC);
    let toml = d.to_toml("x.jsonl", "lampi-agent profile derive x.jsonl", when);
    assert!(toml.contains(&format!("SHA-256 {}", d.report.sha256)), "{toml}");
    assert!(toml.contains("Events: Toggle Power 2"), "{toml}");
    assert!(toml.contains("Derived at: 2026-11-27T16:00:00Z"), "{toml}");
    assert!(toml.contains("# Source: x.jsonl"), "{toml}");
    Profile::from_toml(&toml, "t").unwrap();
}

#[test]
fn sha256_matches_the_standard() {
    // SHA-256("abc"), FIPS 180-2 appendix B.1.
    let mut h = Hashing::new(Cursor::new(b"abc".to_vec()));
    io::copy(&mut h, &mut io::sink()).unwrap();
    assert_eq!(h.hex_digest(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

#[test]
fn empty_and_blank_inputs_are_named() {
    assert!(matches!(derive_str("", Format::Auto), Err(DeriveError::Empty(0))));
    assert!(matches!(derive_str("\n  \n", Format::Mixpanel), Err(DeriveError::Empty(4))));
    assert!(matches!(derive_str("\n", Format::Keen), Err(DeriveError::Empty(1))));
}

#[test]
fn the_wrong_format_says_which_to_use() {
    let keen = r#"{"pageviews": [{"keen": {"timestamp": "2026-09-22T00:05:09.747Z"}, "page": "LAMPI List", "user": "user_000001"}]}"#;
    let mixpanel = r#"{"event":"LAMPI List","properties":{"time":1790035785,"distinct_id":"user_000001"}}"#;
    let e = derive_str(keen, Format::Mixpanel).unwrap_err().to_string();
    assert!(e.contains("--format keen"), "{e}");
    let pretty = "{\n  \"pageviews\": []\n}\n";
    let e = derive_str(pretty, Format::Mixpanel).unwrap_err().to_string();
    assert!(e.contains("pretty-printed") && e.contains("--format keen"), "{e}");
    let e = derive_str(&format!("{mixpanel}\n{mixpanel}\n"), Format::Keen).unwrap_err().to_string();
    assert!(e.contains("--format mixpanel") && e.contains("\"event\""), "{e}");
    assert_eq!(derive_str(keen, Format::Auto).unwrap().report.format, "keen");
    assert_eq!(derive_str(mixpanel, Format::Auto).unwrap().report.format, "mixpanel");
    let e = derive_str("[1, 2]", Format::Auto).unwrap_err().to_string();
    assert!(e.contains("--format"), "{e}");
}

#[test]
fn truncated_keen_is_an_error_with_its_place() {
    let keen = "{\"ui\": [{\"keen\": {\"timestamp\": \"2026-09-22T00:05:09.747Z\"},\n \"lampi\": {\"ui\": \"web\"";
    match derive_str(keen, Format::Keen) {
        Err(DeriveError::Truncated { line, .. }) => assert_eq!(line, 2),
        other => panic!("{other:?}"),
    }
    match derive_str("{\"ui\": [}", Format::Keen) {
        Err(e @ DeriveError::Json { .. }) => assert!(e.to_string().contains("line 1"), "{e}"),
        other => panic!("{other:?}"),
    }
}

fn mixpanel_lines(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                r#"{{"event":"Toggle Power","properties":{{"time":{},"distinct_id":"user_000001","interface":"lampi","isOn":true}}}}"#,
                1_790_035_785 + i * 10
            )
        })
        .collect()
}

#[test]
fn malformed_lines_are_counted_until_a_threshold() {
    let mut lines = mixpanel_lines(2000);
    lines[4] = "{not json".into();
    lines[9] = r#"{"event":"Slider Change","properties":{"time":1790035785,"distinct_id":"user_000001"}}"#.into();
    lines[1999].truncate(30);
    let d = derive_str(&lines.join("\n"), Format::Mixpanel).unwrap();
    assert_eq!(d.report.bad, 3);
    assert!(d.report.bad_examples[0].starts_with("line 5:"), "{:?}", d.report.bad_examples);
    assert!(
        d.report.bad_examples[1].starts_with("line 10: Slider Change with slider None"),
        "{:?}",
        d.report.bad_examples
    );
    assert!(d.report.bad_examples[2].contains("truncated"), "{:?}", d.report.bad_examples);
    // Past both 10 lines and 1%: fail, naming the first few.
    for line in lines.iter_mut().step_by(50) {
        *line = "garbage".into();
    }
    let e = derive_str(&lines.join("\n"), Format::Mixpanel).unwrap_err();
    assert!(matches!(e, DeriveError::TooManyBad { bad: 43, records: 2000, .. }), "{e}");
    assert!(e.to_string().contains("line 1:"), "{e}");
}

#[test]
fn unknown_event_names_are_counted_not_fatal() {
    let mut lines = mixpanel_lines(3);
    lines.push(r#"{"event":"Mystery","properties":{"time":1790035800,"distinct_id":"user_000001"}}"#.into());
    lines.push(r#"{"event":"Mystery","properties":{"time":1790035801,"distinct_id":"user_000001"}}"#.into());
    let d = derive_str(&lines.join("\n"), Format::Mixpanel).unwrap();
    assert_eq!(d.report.unknown.get("Mystery"), Some(&2));
    assert_eq!(d.report.bad, 0);
    let only_unknown = lines[3..].join("\n");
    assert!(matches!(derive_str(&only_unknown, Format::Mixpanel), Err(DeriveError::NoEvents { unknown: 2, .. })));
}

#[test]
fn a_window_without_sessions_is_an_error() {
    let text = mixpanel_lines(3).join("\n"); // 00:09 UTC
    let opts = DeriveOptions { window: (18, 23), ..DeriveOptions::default() };
    let e = derive(Cursor::new(text), Format::Mixpanel, &opts).unwrap_err().to_string();
    assert!(e.contains("18:00-23:00") && e.contains("1 sessions") && e.contains("2026-09-22"), "{e}");
    // The same hours are in the window two hours east of UTC? No: 00:09 UTC is 02:09 at +02:00.
    let opts = DeriveOptions { window: (2, 3), tz_offset_minutes: 120, ..DeriveOptions::default() };
    assert!(derive(Cursor::new(mixpanel_lines(3).join("\n")), Format::Mixpanel, &opts).is_ok());
}

#[test]
fn options_are_checked() {
    assert_eq!(parse_window("18-23"), Ok((18, 23)));
    assert_eq!(parse_window("22-2"), Ok((22, 2)));
    assert_eq!(parse_window("0-24"), Ok((0, 24)));
    assert!(parse_window("5-5").is_err() && parse_window("evening").is_err());
    let opts = DeriveOptions { window: (3, 3), ..DeriveOptions::default() };
    let e = derive(Cursor::new("x"), Format::Auto, &opts).unwrap_err().to_string();
    assert!(e.contains("window = 3-3"), "{e}");
    assert_eq!("keen".parse::<Format>(), Ok(Format::Keen));
    assert!("csv".parse::<Format>().is_err());
}

#[test]
fn derive_command_writes_a_profile_that_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("export.jsonl");
    std::fs::write(&input, mixpanel_lines(20).join("\n")).unwrap();
    let out = dir.path().join("p.toml");
    let opts = DeriveOptions { name: "tiny".into(), window: (0, 1), ..DeriveOptions::default() };
    let when = time::OffsetDateTime::UNIX_EPOCH;
    let report = profile_derive_cmd_at(&input, Format::Auto, &opts, Some(&out), &mut std::io::sink(), when).unwrap();
    assert!(report.contains("derived profile \"tiny\""), "{report}");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("--format mixpanel --window 0-1 --tz +00:00 --gap 2m --name tiny"), "{text}");
    let p = Profile::load(&out).unwrap();
    assert_eq!(p.name, "tiny");
    assert_eq!(p.share_of(Interface::LampUi), 1.0);
    let mut stdout = Vec::new();
    profile_derive_cmd_at(&input, Format::Auto, &opts, None, &mut stdout, when).unwrap();
    assert_eq!(String::from_utf8(stdout).unwrap(), text.replace(&format!(" -o {}", out.display()), ""));
    let missing = profile_derive_cmd(&dir.path().join("nope"), Format::Auto, &opts, None, &mut std::io::sink());
    assert!(format!("{:#}", missing.unwrap_err()).contains("nope"));
}

/// Timing: `cargo test --release --lib time_derive -- --ignored --nocapture`.
#[test]
#[ignore]
fn time_derive() {
    for (file, format) in [("analytics-mixpanel.jsonl", Format::Mixpanel), ("analytics-keen.json", Format::Keen)] {
        let Some(path) = sample(file) else { return };
        for _ in 0..3 {
            let t0 = std::time::Instant::now();
            let d = derive_file(&path, format, &DeriveOptions::default());
            println!("{file}: {} records in {:?}", d.report.records, t0.elapsed());
        }
    }
}
