//! This device's resources per interval, in sar's words, so a load run lines up with `sar` taken on the servers.
//!
//! Four activities, as `sadf -d` prints them (semicolon separated, a `# ` header, UTC timestamps): `-u` (CPU, the
//! `all` row written `-1`), `-r` (memory), `-n DEV` (one row per interface) and `-q` (run queue and load). Each is
//! streamed to its own file while the run goes (`system-u.csv`, ...: an interrupted run keeps every interval), and
//! [`concat`] joins them into `system.csv` at the end in `sadf -d -- -u -r -n DEV -q` order.
//!
//! Sources, each read once per interval: on Linux /proc/stat (CPU time by mode, blocked tasks), /proc/meminfo,
//! /proc/loadavg (load averages, running tasks), /proc/net/dev (every interface's counters in one read, where
//! sysinfo opens nine sysfs files per interface) and each interface's sysfs `speed`; sysinfo for this process's own
//! CPU and RSS, and off Linux for network counters and load averages (the /proc-only columns then read 0). Pure
//! parsing and formatting are split from reading, for tests.

use std::collections::BTreeMap;
use std::io::{self, Write};

#[cfg(not(target_os = "linux"))]
use sysinfo::Networks;
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

pub const CPU_HEADER: &str = "# hostname;interval;timestamp;CPU;%user;%nice;%system;%iowait;%steal;%idle";
pub const MEM_HEADER: &str = "# hostname;interval;timestamp;kbmemfree;kbavail;kbmemused;%memused;kbbuffers;kbcached;kbcommit;%commit;kbactive;kbinact;kbdirty";
pub const NET_HEADER: &str =
    "# hostname;interval;timestamp;IFACE;rxpck/s;txpck/s;rxkB/s;txkB/s;rxcmp/s;txcmp/s;rxmcst/s;%ifutil";
pub const LOAD_HEADER: &str = "# hostname;interval;timestamp;runq-sz;plist-sz;ldavg-1;ldavg-5;ldavg-15;blocked";

/// CPU jiffies by mode, from the `cpu` line of /proc/stat.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuTimes {
    pub user: u64,
    pub nice: u64,
    pub system: u64,
    pub idle: u64,
    pub iowait: u64,
    pub irq: u64,
    pub softirq: u64,
    pub steal: u64,
}

impl CpuTimes {
    pub fn parse(stat: &str) -> Option<CpuTimes> {
        let line = stat.lines().find(|l| l.starts_with("cpu "))?;
        let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
        let g = |i: usize| v.get(i).copied().unwrap_or(0);
        Some(CpuTimes {
            user: g(0),
            nice: g(1),
            system: g(2),
            idle: g(3),
            iowait: g(4),
            irq: g(5),
            softirq: g(6),
            steal: g(7),
        })
    }

    fn total(&self) -> u64 {
        self.user + self.nice + self.system + self.idle + self.iowait + self.irq + self.softirq + self.steal
    }
}

/// `%user;%nice;%system;%iowait;%steal;%idle` between two readings (system includes irq and softirq, as sar -u).
pub fn cpu_percent(a: &CpuTimes, b: &CpuTimes) -> [f64; 6] {
    let d = |x: u64, y: u64| y.saturating_sub(x) as f64;
    let total = d(a.total(), b.total()).max(1.0);
    let pct = |x: f64| x * 100.0 / total;
    [
        pct(d(a.user, b.user)),
        pct(d(a.nice, b.nice)),
        pct(d(a.system + a.irq + a.softirq, b.system + b.irq + b.softirq)),
        pct(d(a.iowait, b.iowait)),
        pct(d(a.steal, b.steal)),
        pct(d(a.idle, b.idle)),
    ]
}

/// The sar -r columns from meminfo (kB).
pub fn mem_row(m: &BTreeMap<String, u64>) -> [f64; 11] {
    let g = |k: &str| m.get(k).copied().unwrap_or(0) as f64;
    let total = g("MemTotal").max(1.0);
    let cached = g("Cached") + g("SReclaimable");
    let used = (total - g("MemFree") - g("Buffers") - cached).max(0.0);
    let commit_base = (total + g("SwapTotal")).max(1.0);
    [
        g("MemFree"),
        g("MemAvailable"),
        used,
        used * 100.0 / total,
        g("Buffers"),
        cached,
        g("Committed_AS"),
        g("Committed_AS") * 100.0 / commit_base,
        g("Active"),
        g("Inactive"),
        g("Dirty"),
    ]
}

/// One interface's counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct NetCounters {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    /// Link speed in bits/s where known (for %ifutil).
    pub speed_bps: Option<u64>,
}

/// `rxpck/s;txpck/s;rxkB/s;txkB/s;rxcmp/s;txcmp/s;rxmcst/s;%ifutil` between two readings `secs` apart.
pub fn net_rates(a: &NetCounters, b: &NetCounters, secs: f64) -> [f64; 8] {
    let s = secs.max(1e-9);
    let r = |x: u64, y: u64| y.saturating_sub(x) as f64 / s;
    let (rxb, txb) = (r(a.rx_bytes, b.rx_bytes), r(a.tx_bytes, b.tx_bytes));
    let util = b.speed_bps.filter(|&v| v > 0).map_or(0.0, |bps| rxb.max(txb) * 8.0 * 100.0 / bps as f64);
    [r(a.rx_packets, b.rx_packets), r(a.tx_packets, b.tx_packets), rxb / 1024.0, txb / 1024.0, 0.0, 0.0, 0.0, util]
}

/// What one interval of sampling produced (all zero where the machine could not be read).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Interval {
    pub cpu: [f64; 6],
    pub mem: [f64; 11],
    pub nets: Vec<(String, [f64; 8])>,
    /// runq-sz, plist-sz, ldavg-1, -5, -15, blocked
    pub load: [f64; 6],
    /// This process: CPU in percent of one core, resident memory in kB.
    pub own_cpu: f64,
    pub own_rss_kb: u64,
}

/// `/proc/net/dev`: each interface's byte and packet counters (link speed not in it: `None`).
pub fn net_dev(text: &str) -> BTreeMap<String, NetCounters> {
    text.lines()
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            let v: Vec<u64> = rest.split_whitespace().map(|x| x.parse().ok()).collect::<Option<_>>()?;
            let c = NetCounters {
                rx_bytes: *v.first()?,
                rx_packets: *v.get(1)?,
                tx_bytes: *v.get(8)?,
                tx_packets: *v.get(9)?,
                speed_bps: None,
            };
            Some((name.trim().to_string(), c))
        })
        .collect()
}

/// `/sys/class/net/<iface>/speed` (Mb/s) in bits/s, as sysinfo reads it: `None` when unreadable or negative.
fn link_speed(iface: &str) -> Option<u64> {
    let mbps: i64 = std::fs::read_to_string(format!("/sys/class/net/{iface}/speed")).ok()?.trim().parse().ok()?;
    u64::try_from(mbps).ok().map(|v| v * 1_000_000)
}

/// Reads the machine between intervals.
pub struct Sampler {
    sys: System,
    #[cfg(not(target_os = "linux"))]
    nets: Networks,
    pid: Pid,
    cpu: Option<CpuTimes>,
    net: BTreeMap<String, NetCounters>,
}

fn proc_read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

impl Sampler {
    pub fn new() -> Option<Sampler> {
        let mut s = Sampler {
            sys: System::new_with_specifics(sysinfo::RefreshKind::nothing()).ok()?,
            #[cfg(not(target_os = "linux"))]
            nets: Networks::new_with_refreshed_list().ok()?,
            pid: sysinfo::get_current_pid().ok()?,
            cpu: None,
            net: BTreeMap::new(),
        };
        s.sample(1.0); // baseline for the first interval's deltas
        Some(s)
    }

    #[cfg(target_os = "linux")]
    fn counters(&mut self) -> BTreeMap<String, NetCounters> {
        let mut all = net_dev(&proc_read("/proc/net/dev"));
        for (name, c) in all.iter_mut() {
            c.speed_bps = link_speed(name);
        }
        all
    }

    #[cfg(not(target_os = "linux"))]
    fn counters(&mut self) -> BTreeMap<String, NetCounters> {
        self.nets.refresh(true);
        self.nets
            .iter()
            .map(|(name, d)| {
                let c = NetCounters {
                    rx_packets: d.total_packets_received(),
                    tx_packets: d.total_packets_transmitted(),
                    rx_bytes: d.total_received(),
                    tx_bytes: d.total_transmitted(),
                    speed_bps: d.receive_link_speed(),
                };
                (name.to_string_lossy().into_owned(), c)
            })
            .collect()
    }

    /// Samples now; deltas are over the `secs` since the previous call.
    pub fn sample(&mut self, secs: f64) -> Interval {
        let stat = proc_read("/proc/stat");
        let cpu_now = CpuTimes::parse(&stat).unwrap_or_default();
        let cpu = self.cpu.map_or([0.0; 6], |prev| cpu_percent(&prev, &cpu_now));
        self.cpu = Some(cpu_now);
        let mem = mem_row(&crate::host::meminfo(&proc_read("/proc/meminfo")));
        let now = self.counters();
        let nets =
            now.iter().map(|(name, c)| (name.clone(), net_rates(self.net.get(name).unwrap_or(c), c, secs))).collect();
        self.net = now;
        let loadavg = proc_read("/proc/loadavg");
        let l = load_average(&loadavg);
        let (runq, plist) = loadavg
            .split_whitespace()
            .nth(3)
            .and_then(|f| f.split_once('/'))
            .map_or((0.0, 0.0), |(r, p)| (r.parse().unwrap_or(0.0), p.parse().unwrap_or(0.0)));
        let blocked = stat.lines().find_map(|l| l.strip_prefix("procs_blocked ")).and_then(|v| v.trim().parse().ok());
        self.sys.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[self.pid]),
            false,
            ProcessRefreshKind::nothing().with_cpu().with_memory(),
        );
        let (own_cpu, own_rss_kb) =
            self.sys.process(self.pid).map_or((0.0, 0), |p| (f64::from(p.cpu_usage()), p.memory() / 1024));
        Interval {
            cpu,
            mem,
            nets,
            load: [runq, plist, l.one, l.five, l.fifteen, blocked.unwrap_or(0.0)],
            own_cpu,
            own_rss_kb,
        }
    }
}

/// The three load averages: from /proc/loadavg's text on Linux (sysinfo would read the file again), else sysinfo's.
fn load_average(loadavg: &str) -> sysinfo::LoadAvg {
    let zero = sysinfo::LoadAvg { one: 0.0, five: 0.0, fifteen: 0.0 };
    if !cfg!(target_os = "linux") {
        return System::load_average().unwrap_or(zero);
    }
    let v: Vec<f64> = loadavg.split_whitespace().take(3).filter_map(|x| x.parse().ok()).collect();
    match v[..] {
        [one, five, fifteen] => sysinfo::LoadAvg { one, five, fifteen },
        _ => zero,
    }
}

fn row(w: &mut impl Write, prefix: &str, values: &[f64]) -> io::Result<()> {
    write!(w, "{prefix}")?;
    for v in values {
        write!(w, ";{v:.2}")?;
    }
    writeln!(w)
}

/// The four streaming writers, one per activity.
pub struct Writers<W: Write> {
    pub cpu: W,
    pub mem: W,
    pub net: W,
    pub load: W,
}

impl<W: Write> Writers<W> {
    pub fn headers(&mut self) -> io::Result<()> {
        writeln!(self.cpu, "{CPU_HEADER}")?;
        writeln!(self.mem, "{MEM_HEADER}")?;
        writeln!(self.net, "{NET_HEADER}")?;
        writeln!(self.load, "{LOAD_HEADER}")
    }

    /// Writes one interval's rows to each activity and flushes them.
    pub fn write(&mut self, host: &str, interval_secs: u64, at: time::OffsetDateTime, s: &Interval) -> io::Result<()> {
        let p = format!("{host};{interval_secs};{}", crate::metrics::sadf::timestamp(at));
        row(&mut self.cpu, &format!("{p};-1"), &s.cpu)?;
        row(&mut self.mem, &p, &s.mem)?;
        for (iface, v) in &s.nets {
            row(&mut self.net, &format!("{p};{iface}"), v)?;
        }
        row(&mut self.load, &p, &s.load)?;
        for w in [&mut self.cpu, &mut self.mem, &mut self.net, &mut self.load] {
            w.flush()?;
        }
        Ok(())
    }
}

/// Joins the per-activity files into one, in `sadf -d -- -u -r -n DEV -q` order.
pub fn concat(parts: &[std::path::PathBuf], out: &std::path::Path) -> io::Result<()> {
    let mut f = io::BufWriter::new(std::fs::File::create(out)?);
    for p in parts {
        f.write_all(&std::fs::read(p)?)?;
    }
    f.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_percentages_follow_sar() {
        let a = CpuTimes::parse("cpu  100 0 50 800 10 5 5 0 0 0\ncpu0 1 2 3\n").unwrap();
        let b = CpuTimes::parse("cpu  160 0 80 900 20 5 5 0 0 0\n").unwrap();
        let p = cpu_percent(&a, &b);
        assert_eq!(p, [30.0, 0.0, 15.0, 5.0, 0.0, 50.0]);
        assert!((p.iter().sum::<f64>() - 100.0).abs() < 1e-9);
    }

    #[test]
    fn memory_columns_from_meminfo() {
        let m = crate::host::meminfo("MemTotal: 1000 kB\nMemFree: 200 kB\nMemAvailable: 500 kB\nBuffers: 50 kB\nCached: 100 kB\nSReclaimable: 50 kB\nCommitted_AS: 300 kB\nSwapTotal: 0 kB\nActive: 10 kB\nInactive: 20 kB\nDirty: 3 kB\n");
        let r = mem_row(&m);
        assert_eq!(r, [200.0, 500.0, 600.0, 60.0, 50.0, 150.0, 300.0, 30.0, 10.0, 20.0, 3.0]);
    }

    #[test]
    fn net_rates_per_second_and_utilisation() {
        let a = NetCounters { rx_packets: 0, tx_packets: 0, rx_bytes: 0, tx_bytes: 0, speed_bps: Some(8_000_000) };
        let b = NetCounters {
            rx_packets: 100,
            tx_packets: 50,
            rx_bytes: 204_800,
            tx_bytes: 102_400,
            speed_bps: Some(8_000_000),
        };
        let r = net_rates(&a, &b, 2.0);
        assert_eq!(&r[..4], &[50.0, 25.0, 100.0, 50.0]);
        assert!((r[7] - 102_400.0 * 8.0 * 100.0 / 8_000_000.0).abs() < 1e-9);
    }

    #[test]
    fn proc_net_dev_counters_and_load_averages() {
        let dev = "Inter-|   Receive                                                |  Transmit\n \
                   face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
                   lo:  204800     100    0    0    0     0          0         0   102400      50    0    0    0     0       0          0\n  \
                   eth0: 7 3 0 0 0 0 0 0 9 4 0 0 0 0 0 0\n";
        let n = net_dev(dev);
        assert_eq!(n.keys().collect::<Vec<_>>(), ["eth0", "lo"]);
        let want =
            NetCounters { rx_bytes: 204_800, rx_packets: 100, tx_bytes: 102_400, tx_packets: 50, speed_bps: None };
        assert_eq!(n["lo"], want);
        assert_eq!((n["eth0"].rx_bytes, n["eth0"].tx_packets), (7, 4));
        if cfg!(target_os = "linux") {
            let l = load_average("0.52 0.58 0.59 3/245 12345\n");
            assert_eq!((l.one, l.five, l.fifteen), (0.52, 0.58, 0.59));
            assert_eq!(load_average("").one, 0.0);
        }
    }

    #[test]
    fn rows_have_sadf_framing_under_pinned_headers() {
        let mut w = Writers { cpu: Vec::new(), mem: Vec::new(), net: Vec::new(), load: Vec::new() };
        w.headers().unwrap();
        let s = Interval {
            cpu: [11.56, 0.0, 9.05, 0.0, 0.5, 78.89],
            mem: [0.0; 11],
            nets: vec![("lo".into(), [1.0; 8])],
            load: [1.0, 200.0, 0.5, 0.4, 0.3, 0.0],
            own_cpu: 0.0,
            own_rss_kb: 0,
        };
        let at = time::macros::datetime!(2026-11-27 14:48:37 UTC);
        w.write("vm", 1, at, &s).unwrap();
        let cpu = String::from_utf8(w.cpu).unwrap();
        assert_eq!(cpu, format!("{CPU_HEADER}\nvm;1;2026-11-27 14:48:37 UTC;-1;11.56;0.00;9.05;0.00;0.50;78.89\n"));
        let net = String::from_utf8(w.net).unwrap();
        assert!(net.ends_with("vm;1;2026-11-27 14:48:37 UTC;lo;1.00;1.00;1.00;1.00;1.00;1.00;1.00;1.00\n"), "{net}");
        assert_eq!(String::from_utf8(w.load).unwrap().lines().nth(1).unwrap().split(';').count(), 9);
    }

    #[test]
    fn a_live_sample_reads_this_machine() {
        let mut s = Sampler::new().expect("sysinfo");
        let i = s.sample(1.0);
        assert!(i.mem[0] > 0.0, "MemFree read: {:?}", i.mem);
        assert!(i.own_rss_kb > 0);
        assert!(i.nets.iter().any(|(n, _)| n == "lo"), "{:?}", i.nets);
    }
}
