//! The fleet tools end to end: `report merge` and `report plot` on real load runs against the real broker and
//! Django site; the Ansible role run against this machine into a temporary prefix (no system changes), its
//! self-test gate failing a lamp; and `loadtest.yml` driving two local "lamps" at once, fetching and merging.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::support::django::{DjangoSite, SiteOptions};
use crate::support::lamp::{run_cli, BIN};
use crate::support::Mosquitto;

fn ansible_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy").join("ansible")
}

/// `ansible-playbook` from the test venv (scripts/setup-test-venv.sh installs ansible-core there).
fn ansible_playbook() -> PathBuf {
    let venv = std::env::var_os("LAMPI_TEST_VENV").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").expect("HOME is not set")).join(".cache/lampi-agent/venv")
    });
    let bin = venv.join("bin").join("ansible-playbook");
    assert!(bin.exists(), "{} not found: run scripts/test.sh (or scripts/setup-test-venv.sh)", bin.display());
    bin
}

/// Runs a playbook from deploy/ansible with its own ANSIBLE_HOME in `tmp`; returns (success, output).
fn playbook(tmp: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(ansible_playbook())
        .args(args)
        .current_dir(ansible_dir())
        .env("ANSIBLE_HOME", tmp.join("ansible-home"))
        .env("ANSIBLE_LOCAL_TEMP", tmp.join("ansible-tmp"))
        .env("ANSIBLE_REMOTE_TEMP", tmp.join("ansible-tmp"))
        .env("ANSIBLE_ASYNC_DIR", tmp.join("ansible-async"))
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_FORCE_COLOR", "0")
        .output()
        .expect("run ansible-playbook");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

fn aggregated_count(summary: &Path) -> u64 {
    json(summary)["results"]["aggregated"]["count"].as_u64().unwrap()
}

/// An RFC 3339 time `secs` from now, for --start-at.
fn in_secs(secs: u64) -> String {
    let t = SystemTime::now() + Duration::from_secs(secs);
    humantime::format_rfc3339_seconds(t).to_string()
}

#[test]
fn merge_and_plot_real_runs_of_two_lamps_started_together() {
    let broker = Mosquitto::start();
    let site = DjangoSite::start(SiteOptions { users: 10, ..SiteOptions::default() });
    let tmp = tempfile::tempdir().unwrap();
    let (broker_addr, url, start) = (format!("127.0.0.1:{}", broker.port()), site.base_url(), in_secs(2));
    let runs: Vec<PathBuf> = ["a", "b"].iter().map(|n| tmp.path().join(n)).collect();
    std::thread::scope(|s| {
        for (i, dir) in runs.iter().enumerate() {
            let (broker_addr, url, start) = (&broker_addr, &url, &start);
            s.spawn(move || {
                let first = (i * 5).to_string();
                let args = [
                    "loadtest",
                    "--profile",
                    "smoke",
                    "--devices",
                    "5",
                    "--first-lamp",
                    &first,
                    "--duration",
                    "4s",
                    "--broker",
                    broker_addr,
                    "--site",
                    url,
                    "--seed",
                    "1",
                    "--start-at",
                    start,
                    "--broker-sys",
                    "--out",
                    dir.to_str().unwrap(),
                ];
                let (code, _, err) = run_cli(&args, &[]);
                assert_eq!(code, 0, "loadtest {i}: {err}");
            });
        }
    });
    let fleet = tmp.path().join("fleet");
    let (a, b, out) = (runs[0].to_str().unwrap(), runs[1].to_str().unwrap(), fleet.to_str().unwrap());
    let (code, stdout, err) = run_cli(&["report", "merge", a, b, "--out", out], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("fleet: 2 run(s), 10 lamp(s) simulated"), "{stdout}");
    let total = aggregated_count(&runs[0].join("summary.json")) + aggregated_count(&runs[1].join("summary.json"));
    assert_eq!(aggregated_count(&fleet.join("summary.json")), total, "every attempt of both lamps, once");
    let lamps = std::fs::read_to_string(fleet.join("lamps.csv")).unwrap();
    for dir in [a, b, "(fleet)"] {
        assert!(lamps.lines().any(|l| l.starts_with(&format!("{dir},")) && l.contains(",Aggregated,")), "{lamps}");
    }
    // The same seconds, not twice as many: the runs shared --start-at.
    let seconds = |p: &Path| {
        let text = std::fs::read_to_string(p.join("latency.csv")).unwrap();
        let mut ts: Vec<String> = text.lines().skip(1).map(|l| l.split(';').nth(2).unwrap().to_string()).collect();
        ts.dedup();
        ts.len()
    };
    assert!(seconds(&fleet) <= seconds(&runs[0]).max(seconds(&runs[1])) + 1, "intervals are aligned");
    // Start lateness survives the merge (the hlog carries it as `late:` tags).
    let merged = std::fs::read_to_string(fleet.join("latency.csv")).unwrap();
    let busy: Vec<&str> = merged.lines().skip(1).filter(|l| l.split(';').nth(5) != Some("0")).collect();
    assert!(!busy.is_empty());
    assert!(busy.iter().all(|l| !l.split(';').nth(24).unwrap_or("").is_empty()), "late_p99_ms empty:\n{merged}");

    let (code, stdout, err) = run_cli(&["report", "plot", out], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("report.html"), "{stdout}");
    let page = std::fs::read_to_string(fleet.join("report.html")).unwrap();
    for chart in ["latency-MQTT-roundtrip", "throughput", "errors", "cpu", "memory", "broker-clients"] {
        assert!(page.contains(&format!("data-chart=\"{chart}\"")), "chart {chart} missing");
    }
    assert!(page.contains("raw p99 (service)") && page.matches("<svg").count() >= 6);

    let (code, _, err) = run_cli(&["report", "merge", a, "/nonexistent/run", "--out", out], &[]);
    assert_eq!(code, 1);
    assert!(err.contains("/nonexistent/run: not a lampi-agent run folder"), "{err}");
}

#[test]
fn playbooks_pass_the_syntax_check() {
    let tmp = tempfile::tempdir().unwrap();
    for book in ["site.yml", "loadtest.yml"] {
        let (ok, out) = playbook(tmp.path(), &["--syntax-check", "-i", "inventory.example.yml", book]);
        assert!(ok, "{book}: {out}");
    }
}

/// The role's defaults pick the ARMv6 build for every 32-bit Pi (`uname -m` armv6l, armv7l, armv8l) and the 64-bit
/// build for aarch64: the two binaries scripts/release-pi.sh writes.
#[test]
fn ansible_role_maps_each_pi_architecture_to_a_static_build() {
    let tmp = tempfile::tempdir().unwrap();
    let defaults = ansible_dir().join("roles/lampi_agent/defaults/main.yml");
    let book = tmp.path().join("binaries.yml");
    let text = format!(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - ansible.builtin.include_vars: {{file: \"{}\"}}\n    - ansible.builtin.debug: {{msg: \"binary for {{{{ item }}}}: {{{{ lampi_binaries[item] | basename }}}}\"}}\n      loop: [aarch64, armv6l, armv7l, armv8l]\n",
        defaults.display()
    );
    std::fs::write(&book, text).unwrap();
    let (ok, out) = playbook(tmp.path(), &["-i", "localhost,", "-c", "local", book.to_str().unwrap()]);
    assert!(ok, "{out}");
    for (arch, bin) in [
        ("aarch64", "lampi-agent-aarch64"),
        ("armv6l", "lampi-agent-armv6"),
        ("armv7l", "lampi-agent-armv6"),
        ("armv8l", "lampi-agent-armv6"),
    ] {
        assert!(out.contains(&format!("\"binary for {arch}: {bin}\"")), "{arch} should get {bin}:\n{out}");
    }
}

/// The inventory of the role test: one local lamp installed under `prefix`.
fn role_inventory(tmp: &Path, prefix: &Path, broker_port: u16, url: &str) -> PathBuf {
    let inv = tmp.join("role-inventory.yml");
    let text = format!(
        "lamps:\n  hosts:\n    lamp-a:\n      ansible_connection: local\n      ansible_python_interpreter: \"{{{{ ansible_playbook_python }}}}\"\n  vars:\n    lampi_prefix: {}\n    lampi_binary_src: {BIN}\n    lampi_device_id: 1e0000000001\n    lampi_broker_host: 127.0.0.1\n    lampi_broker_port: {broker_port}\n    lampi_web_url: {url}\n    lampi_web_username: user_000001\n    lampi_web_password: 100000_resu\n    lampi_led_backend: sim\n    lampi_selftest_args: --only config,identity,led,broker,web,disk\n",
        prefix.display()
    );
    std::fs::write(&inv, text).unwrap();
    inv
}

#[test]
fn ansible_role_installs_into_a_prefix_then_loadtest_playbook_merges_two_lamps() {
    let broker = Mosquitto::start();
    let site = DjangoSite::start(SiteOptions { users: 10, ..SiteOptions::default() });
    let tmp = tempfile::tempdir().unwrap();
    let prefix = tmp.path().join("root");
    let inv = role_inventory(tmp.path(), &prefix, broker.port(), &site.base_url());
    let inv = inv.to_str().unwrap();

    let (ok, out) = playbook(tmp.path(), &["-i", inv, "site.yml"]);
    assert!(ok, "{out}");
    let config = prefix.join("etc/lampi-agent/lampi.toml");
    let mode = |p: &Path| std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions()) & 0o777;
    assert_eq!(mode(&config), 0o600, "secrets in the config: owner only");
    assert_eq!(mode(&prefix.join("usr/local/bin/lampi-agent")), 0o755);
    assert!(prefix.join("etc/systemd/system/lampi-agent.service").is_file());
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("id = \"1e0000000001\"") && text.contains(&format!("port = {}", broker.port())), "{text}");
    let (ok, out) = playbook(tmp.path(), &["-i", inv, "site.yml"]);
    assert!(ok && out.contains("changed=0"), "a second run changes nothing:\n{out}");

    // The gate: a lamp that cannot reach its broker fails, and says which check failed.
    let dead = Mosquitto::free_port().to_string();
    let (ok, out) = playbook(tmp.path(), &["-i", inv, "site.yml", "-e", &format!("lampi_broker_port={dead}")]);
    assert!(!ok, "{out}");
    assert!(out.contains("broker: connection refused"), "the failing check is shown:\n{out}");
    let (ok, out) = playbook(tmp.path(), &["-i", inv, "site.yml"]);
    assert!(ok, "{out}");

    // Two "lamps" on this machine, each simulating five course lamps with the installed binary and config.
    let runs = tmp.path().join("runs");
    let inv2 = tmp.path().join("fleet-inventory.yml");
    let bin = prefix.join("usr/local/bin/lampi-agent");
    std::fs::write(
        &inv2,
        format!(
            "lamps:\n  hosts:\n    lamp-a: {{lampi_first_lamp: 0}}\n    lamp-b: {{lampi_first_lamp: 5}}\n  vars:\n    ansible_connection: local\n    ansible_python_interpreter: \"{{{{ ansible_playbook_python }}}}\"\n    lampi_loadtest_bin: {}\n    lampi_loadtest_config: {}\n    lampi_loadtest_dir: {}\n    lampi_controller_bin: {BIN}\n    lampi_runs_dir: {}\n    lampi_profile: smoke\n    lampi_duration_s: 4\n    lampi_lead_s: 8\n    lampi_loadtest_devices: 5\n",
            bin.display(),
            config.display(),
            tmp.path().join("on-lamps").display(),
            runs.display()
        ),
    )
    .unwrap();
    let (ok, out) = playbook(tmp.path(), &["-i", inv2.to_str().unwrap(), "loadtest.yml", "-e", "lampi_run_id=t"]);
    assert!(ok, "{out}");
    assert!(out.contains("fleet: 2 run(s), 10 lamp(s) simulated"), "{out}");
    let run = runs.join("t");
    let both = aggregated_count(&run.join("lamp-a/summary.json")) + aggregated_count(&run.join("lamp-b/summary.json"));
    assert_eq!(aggregated_count(&run.join("fleet/summary.json")), both);
    let (a, b) = (json(&run.join("lamp-a/run.json")), json(&run.join("lamp-b/run.json")));
    let second = |v: &Value| v["start"].as_str().unwrap()[..19].to_string();
    assert_eq!(second(&a), second(&b), "both lamps started at the same --start-at (to the second):\n{a}\n{b}");
    assert_eq!((a["first_lamp"].as_u64(), b["first_lamp"].as_u64()), (Some(0), Some(5)));
    assert!(run.join("fleet/report.html").is_file() && run.join("fleet/lamps.csv").is_file());
}
