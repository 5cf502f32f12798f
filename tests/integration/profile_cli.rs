//! `lampi-agent profile derive|show` and `loadtest --replay` on bad inputs, through the real binary: each kind of
//! bad input has its exit code (65 bad data, 66 no input, 73 cannot write, 2 usage, 78 a bad profile) and a message
//! naming the file or the flag. And the command recorded in the shipped profiles derives them again.

use std::path::{Path, PathBuf};

use crate::support::lamp::run_cli;

fn sample(name: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data").join(name);
    if p.is_file() {
        Some(p)
    } else {
        eprintln!("SKIPPED: sample export {} is absent", p.display());
        None
    }
}

/// A small Mixpanel export: one app drag and one web session per hour, hours 0..4 of 2026-09-22 UTC.
fn small_export(dir: &Path) -> PathBuf {
    let t0 = 1_790_035_200u64; // 2026-09-22T00:00:00Z
    let mut lines = Vec::new();
    for h in 0..4u64 {
        let t = t0 + h * 3600 + 600;
        for (k, v) in [0.9, 0.8, 0.7].iter().enumerate() {
            lines.push(format!(
                r#"{{"event":"Slider Change","properties":{{"time":{},"distinct_id":"user_000001","interface":"iOS","slider":"hue","value":{v}}}}}"#,
                t + k as u64
            ));
        }
        lines.push(format!(
            r#"{{"event":"LAMPI List","properties":{{"time":{},"distinct_id":"user_000002"}}}}"#,
            t + 900
        ));
        lines.push(format!(
            r#"{{"event":"Toggle Power","properties":{{"time":{},"distinct_id":"user_000002","interface":"web","isOn":false}}}}"#,
            t + 904
        ));
    }
    let path = dir.join("small.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn derive(args: &[&str]) -> (i32, String, String) {
    let argv: Vec<&str> = ["profile", "derive"].iter().chain(args).copied().collect();
    run_cli(&argv, &[])
}

#[test]
fn derive_writes_a_profile_that_show_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let export = small_export(dir.path());
    let out = dir.path().join("night.toml");
    let (code, stdout, err) = derive(&[
        "--from",
        export.to_str().unwrap(),
        "--window",
        "00:00-04:00",
        "--name",
        "night",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.is_empty(), "the profile goes to -o, the report to stderr: {stdout}");
    assert!(err.contains("derived profile \"night\"") && err.contains("wrote"), "{err}");
    let text = std::fs::read_to_string(&out).unwrap();
    let recorded = format!("--format mixpanel --window 0-4 --tz +00:00 --gap 2m --name night {}", export.display());
    assert!(text.contains(&recorded), "{text}");
    let (code, shown, err) = run_cli(&["profile", "show", out.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(shown.starts_with("Profile \"night\""), "{shown}");
    assert!(shown.contains("Session arrivals") && shown.contains("Think time"), "{shown}");
    // Without -o the profile is the output.
    let (code, stdout, _) = derive(&[export.to_str().unwrap(), "--window", "0-4", "--name", "night"]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("# Profile \"night\""), "{stdout}");
}

#[test]
fn the_command_recorded_in_the_shipped_profiles_derives_them_again() {
    let Some(_) = sample("analytics-mixpanel.jsonl") else { return };
    let dir = tempfile::tempdir().unwrap();
    for name in ["evening", "morning"] {
        let shipped =
            std::fs::read_to_string(format!("{}/config/profiles/{name}.toml", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let command = shipped.lines().nth(1).unwrap().trim_start_matches('#').trim();
        let mut words: Vec<String> = command.split_whitespace().skip(3).map(str::to_string).collect();
        // Into a temp dir, not into the working tree; relative paths are from the checkout, as cargo runs tests.
        let out = dir.path().join(format!("{name}.toml"));
        let o = words.iter().position(|w| w == "-o").unwrap();
        words[o + 1] = out.display().to_string();
        let args: Vec<&str> = words.iter().map(String::as_str).collect();
        let (code, _, err) = derive(&args);
        assert_eq!(code, 0, "{command}: {err}");
        let fresh = std::fs::read_to_string(&out).unwrap();
        let body = |t: &str| -> Vec<String> {
            t.lines()
                .filter(|l| !l.starts_with("# Derived at:") && !l.contains("profile derive"))
                .map(String::from)
                .collect()
        };
        assert_eq!(body(&fresh), body(&shipped), "{name}: the recorded command no longer derives the shipped file");
    }
}

#[test]
fn each_bad_input_has_its_exit_code_and_names_the_file_or_flag() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).display().to_string();
    let export = small_export(dir.path()).display().to_string();
    std::fs::write(p("empty.jsonl"), "\n\n").unwrap();
    std::fs::write(
        p("truncated.json"),
        r#"{"ui": [{"keen": {"timestamp": "2026-09-22T00:05:09.747Z"}, "lampi": {"ui""#,
    )
    .unwrap();
    let mixpanel = std::fs::read_to_string(&export).unwrap();
    std::fs::write(p("truncated.jsonl"), &mixpanel[..mixpanel.len() - 40]).unwrap();
    let (missing, unwritable) = (p("missing.jsonl"), p("no/such/dir/x.toml"));
    let (empty, truncated) = (p("empty.jsonl"), p("truncated.json"));
    let cases: Vec<(Vec<&str>, i32, Vec<&str>)> = vec![
        (vec![&missing], 66, vec![&missing, "cannot open the export", "No such file"]),
        (vec!["--from", &empty], 65, vec!["empty.jsonl", "the export is empty"]),
        (vec![&truncated], 65, vec!["truncated.json", "Keen extraction ends in the middle", "truncated?"]),
        (vec!["--format", "keen", &export], 65, vec!["small.jsonl", "not a keen export", "use --format mixpanel"]),
        (vec!["--format", "csv", &export], 2, vec!["'csv'", "--format", "mixpanel, keen, auto"]),
        (
            vec!["--window", "5-6", &export],
            65,
            vec!["small.jsonl", "no session starts in the window 05:00-06:00", "--window"],
        ),
        (vec!["--window", "18:30-23:00", &export], 2, vec!["--window", "whole hours"]),
        (vec!["--tz", "UTC+1", &export], 2, vec!["--tz", "+00:00"]),
        (vec![&export, "--window", "0-4", "-o", &unwritable], 73, vec![&unwritable, "cannot write the profile"]),
        (vec![&export, "--from", &export], 2, vec!["cannot be used with"]),
    ];
    for (args, want, needles) in cases {
        let (code, _, err) = derive(&args);
        assert_eq!(code, want, "{args:?} exited {code}:\n{err}");
        for n in needles {
            assert!(err.contains(n), "{args:?}: {n:?} missing from:\n{err}");
        }
    }
    // A Mixpanel export cut mid-line loses one record: tolerated, and said.
    let (code, _, err) = derive(&[&p("truncated.jsonl"), "--window", "0-4"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("1 malformed records tolerated") && err.contains("truncated?"), "{err}");
}

#[test]
fn show_and_replay_name_what_is_missing_or_broken() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "name = 3\n").unwrap();
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let config = dir.path().join("lampi.toml");
    std::fs::write(&config, "").unwrap();
    let c = config.to_str().unwrap();
    let cases: Vec<(Vec<&str>, i32, Vec<&str>)> = vec![
        (vec!["profile", "show", "nosuch"], 66, vec!["\"nosuch\"", "evening, morning, smoke"]),
        (vec!["profile", "show", "/nonexistent/p.toml"], 66, vec!["/nonexistent/p.toml"]),
        (vec!["profile", "show", broken.to_str().unwrap()], 78, vec!["broken.toml", "name = 3"]),
        (
            vec!["loadtest", "--config", c, "--replay", "/nonexistent/t.jsonl"],
            66,
            vec!["--replay /nonexistent/t.jsonl"],
        ),
        (
            vec!["loadtest", "--config", c, "--replay", empty.to_str().unwrap()],
            65,
            vec!["--replay", "empty.jsonl", "empty"],
        ),
        (vec!["loadtest", "--config", c, "--replay", "x", "--profile", "smoke"], 2, vec!["--profile"]),
    ];
    for (args, want, needles) in cases {
        let (code, _, err) = run_cli(&args, &[]);
        assert_eq!(code, want, "{args:?} exited {code}:\n{err}");
        for n in needles {
            assert!(err.contains(n), "{args:?}: {n:?} missing from:\n{err}");
        }
    }
    let (code, out, err) = run_cli(&["profile", "show", "evening"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Session chain, web"), "{out}");
}
