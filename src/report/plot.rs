//! `report plot`: one self-contained HTML page for a run folder (a single lamp's or a merged fleet's), with inline
//! SVG charts drawn by `plotters` and a few lines of CSS, so it opens anywhere without a network.
//!
//! Charts, each in a `<figure data-chart="ID">`: `latency-<op>` per operation (corrected p50/p99/max, and the raw
//! service p50/p99 dashed), `throughput` (attempts/s per operation), `errors` (failed attempts per interval),
//! `cpu` (device CPU busy %, per host), `memory` (% used, per host), from `connections.csv` `connections` (lamp and
//! owner connections up) and `connects` (connect attempts and failed ones per interval), and, when `broker.csv` was
//! recorded, `broker-clients` and `broker-messages`. The outage windows of `summary.json` are shaded on every chart
//! (from their start to their recovery, or to the end of the run). Time is seconds from the run's start. Data comes
//! from `latency.csv`, `system.csv`, `connections.csv`, `broker.csv` and `summary.json`; [`charts`] is pure (text in,
//! series out) and [`svg`] draws one chart.

use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;

use super::csv::{sadf_blocks, sadf_time, Block};
use super::{read_text, Error};

/// The page's name in the run folder when `--out` is not given.
pub const DEFAULT_FILE: &str = "report.html";
const SIZE: (u32, u32) = (960, 340);

/// One line on a chart: points are (seconds from the start, value).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// Drawn dashed (raw service time next to corrected latency).
    pub dashed: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// Stable id (`data-chart`), for tests and links.
    pub id: String,
    pub title: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// Outage windows to shade, (from, to) in seconds from the start.
    pub shade: Vec<(f64, f64)>,
}

/// The sadf files of a run folder, as text (`None` when the file is absent).
#[derive(Debug, Default)]
pub struct Inputs {
    pub latency: String,
    pub system: Option<String>,
    pub broker: Option<String>,
    pub connections: Option<String>,
    /// `summary.json`, for its `outages`.
    pub summary: Option<String>,
}

/// A numeric field of a row, if it is there, not empty, and parses.
fn value(row: &[String], col: usize) -> Option<f64> {
    row.get(col).filter(|v| !v.is_empty()).and_then(|v| v.parse().ok())
}

/// Adds `(t, y)` to the series called `name` in `chart`, creating it (in order of first appearance).
fn push(chart: &mut Chart, name: &str, dashed: bool, t: f64, y: f64) {
    match chart.series.iter_mut().find(|s| s.name == name) {
        Some(s) => s.points.push((t, y)),
        None => chart.series.push(Series { name: name.to_string(), points: vec![(t, y)], dashed }),
    }
}

fn chart(id: &str, title: &str, y_label: &str) -> Chart {
    Chart {
        id: id.to_string(),
        title: title.to_string(),
        y_label: y_label.to_string(),
        series: Vec::new(),
        shade: Vec::new(),
    }
}

/// An id fragment from an operation: `GET /lampi/device/[id]` -> `GET-lampi-device-id`.
pub fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// The run's start (Unix seconds): the first interval's start in `latency.csv`.
fn start_of(latency: &[Block]) -> Option<i64> {
    latency
        .iter()
        .flat_map(|b| {
            let (ts, iv) = (b.col("timestamp"), b.col("interval"));
            b.rows.iter().filter_map(move |(_, r)| Some(sadf_time(&r[ts?])? - r[iv?].parse::<i64>().unwrap_or(0)))
        })
        .min()
}

/// Which input file is bad (`latency.csv`, ...), its 1-based line, and what is wrong.
pub type BadLine = (&'static str, usize, String);

/// Builds every chart the inputs allow, with the run's start (Unix seconds) if known.
pub fn charts(inputs: &Inputs) -> Result<(Option<i64>, Vec<Chart>), BadLine> {
    let latency = sadf_blocks(&inputs.latency).map_err(|(l, d)| ("latency.csv", l, d))?;
    let start = start_of(&latency);
    let t = |row: &[String], col: usize| sadf_time(&row[col]).map(|s| (s - start.unwrap_or(s)) as f64);
    let mut per_op: Vec<Chart> = Vec::new();
    let (mut throughput, mut errors) =
        (chart("throughput", "Throughput", "attempts/s"), chart("errors", "Errors", "failed attempts per interval"));
    for b in &latency {
        let need = ["timestamp", "type", "name", "rate/s", "failures"].map(|c| b.col(c));
        let [Some(ts), Some(kind), Some(name), Some(rate), Some(failed)] = need else {
            return Err(("latency.csv", 1, "not a latency.csv header".into()));
        };
        let cols = [
            ("p50", "lat_p50_ms", false),
            ("p99", "lat_p99_ms", false),
            ("max", "lat_max_ms", false),
            ("raw p50 (service)", "svc_p50_ms", true),
            ("raw p99 (service)", "svc_p99_ms", true),
        ];
        for (_, row) in &b.rows {
            let Some(x) = t(row, ts) else { continue };
            let op = format!("{} {}", row[kind], row[name]);
            let id = format!("latency-{}", slug(&op));
            if !per_op.iter().any(|c| c.id == id) {
                per_op.push(chart(&id, &format!("Latency: {op}"), "ms"));
            }
            let c = per_op.iter_mut().find(|c| c.id == id).expect("just added");
            for (label, col, dashed) in cols {
                if let Some(y) = b.col(col).and_then(|i| value(row, i)) {
                    push(c, label, dashed, x, y);
                }
            }
            if let Some(y) = value(row, rate) {
                push(&mut throughput, &op, false, x, y);
            }
            if let Some(y) = value(row, failed) {
                push(&mut errors, &op, false, x, y);
            }
        }
    }
    let mut all = per_op;
    all.extend([throughput, errors]);
    if let Some(text) = &inputs.system {
        let blocks = sadf_blocks(text).map_err(|(l, d)| ("system.csv", l, d))?;
        let mut cpu = chart("cpu", "Device CPU busy (100 - %idle)", "%");
        let mut mem = chart("memory", "Device memory used", "%");
        for b in &blocks {
            let (Some(ts), Some(host)) = (b.col("timestamp"), b.col("hostname")) else { continue };
            let (idle, used) = (b.col("%idle"), b.col("%memused"));
            for (_, row) in &b.rows {
                let Some(x) = t(row, ts) else { continue };
                if let Some(y) = idle.and_then(|i| value(row, i)) {
                    push(&mut cpu, &row[host], false, x, 100.0 - y);
                }
                if let Some(y) = used.and_then(|i| value(row, i)) {
                    push(&mut mem, &row[host], false, x, y);
                }
            }
        }
        all.extend([cpu, mem]);
    }
    if let Some(text) = &inputs.broker {
        let blocks = sadf_blocks(text).map_err(|(l, d)| ("broker.csv", l, d))?;
        let mut clients = chart("broker-clients", "Broker: clients connected", "clients");
        let mut msgs = chart("broker-messages", "Broker: messages per minute (1-minute average)", "messages/min");
        for b in &blocks {
            let (Some(ts), Some(host)) = (b.col("timestamp"), b.col("hostname")) else { continue };
            for (_, row) in &b.rows {
                let Some(x) = t(row, ts) else { continue };
                if let Some(y) = b.col("clients_connected").and_then(|i| value(row, i)) {
                    push(&mut clients, &row[host], false, x, y);
                }
                for (col, what) in [("messages_received_1min", "received"), ("messages_sent_1min", "sent")] {
                    if let Some(y) = b.col(col).and_then(|i| value(row, i)) {
                        push(&mut msgs, &format!("{} {what}", row[host]), false, x, y);
                    }
                }
            }
        }
        all.extend([clients, msgs]);
    }
    if let Some(text) = &inputs.connections {
        let blocks = sadf_blocks(text).map_err(|(l, d)| ("connections.csv", l, d))?;
        all.extend(connection_charts(&blocks, &t));
    }
    all.retain(|c| !c.series.is_empty());
    let end = all.iter().flat_map(|c| c.series.iter().flat_map(|s| s.points.iter().map(|p| p.0))).fold(0.0, f64::max);
    let windows = match (&inputs.summary, start) {
        (Some(json), Some(start)) => outage_windows(json, start, end),
        _ => Vec::new(),
    };
    for c in &mut all {
        c.shade.clone_from(&windows);
    }
    Ok((start, all))
}

/// `connections` (lamps and owners up) and `connects` (attempts, failed attempts) from `connections.csv`.
fn connection_charts(blocks: &[Block], t: &dyn Fn(&[String], usize) -> Option<f64>) -> [Chart; 2] {
    let mut up = chart("connections", "MQTT connections up (end of interval)", "connections");
    let mut connects = chart("connects", "MQTT connect attempts", "per interval");
    for b in blocks {
        let Some(ts) = b.col("timestamp") else { continue };
        for (_, row) in &b.rows {
            let Some(x) = t(row, ts) else { continue };
            for (col, name, first) in [
                ("lamps_up", "lamps", true),
                ("owners_up", "owners", true),
                ("connect_attempts", "attempts", false),
                ("connect_refused", "failed", false),
            ] {
                if let Some(y) = b.col(col).and_then(|i| value(row, i)) {
                    push(if first { &mut up } else { &mut connects }, name, false, x, y);
                }
            }
        }
    }
    [up, connects]
}

/// The `outages` of a `summary.json` as (from, to) seconds from `start`; an outage not recovered lasts to `end`.
/// A summary without outages (or not JSON) shades nothing.
pub fn outage_windows(summary: &str, start: i64, end: f64) -> Vec<(f64, f64)> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(summary) else { return Vec::new() };
    let at = |x: &serde_json::Value| {
        let t = time::OffsetDateTime::parse(x.as_str()?, &time::format_description::well_known::Rfc3339).ok()?;
        Some((t.unix_timestamp() - start) as f64)
    };
    let outages = v["outages"].as_array().map(Vec::as_slice).unwrap_or_default();
    outages.iter().filter_map(|o| Some((at(&o["start"])?, at(&o["recovered"]).unwrap_or(end)))).collect()
}

/// Draws one chart as an SVG document.
pub fn svg(chart: &Chart, x_label: &str) -> Result<String, String> {
    let points = chart.series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y1) = (f64::MAX, f64::MIN, 0f64);
    for &(x, y) in points {
        (x0, x1, y1) = (x0.min(x), x1.max(x), y1.max(y));
    }
    if x0 > x1 {
        (x0, x1) = (0.0, 1.0);
    }
    if x1 - x0 < 1.0 {
        x1 = x0 + 1.0;
    }
    let y1 = if y1 <= 0.0 { 1.0 } else { y1 * 1.08 };
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut c = ChartBuilder::on(&root)
            .caption(&chart.title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, 0f64..y1)
            .map_err(|e| e.to_string())?;
        c.configure_mesh()
            .x_desc(x_label)
            .y_desc(&chart.y_label)
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(|e| e.to_string())?;
        let outage = RGBColor(230, 80, 60).mix(0.18).filled();
        let windows = chart.shade.iter().map(|&(a, b)| (a.clamp(x0, x1), b.clamp(x0, x1))).filter(|(a, b)| b > a);
        c.draw_series(windows.map(|(a, b)| Rectangle::new([(a, 0.0), (b, y1)], outage))).map_err(|e| e.to_string())?;
        for (i, s) in chart.series.iter().enumerate() {
            let colour = Palette99::pick(i).to_rgba();
            let style = colour.stroke_width(2);
            let legend = move |(x, y): (i32, i32)| PathElement::new(vec![(x, y), (x + 20, y)], style);
            let points = s.points.iter().copied();
            let drawn = if s.dashed {
                c.draw_series(DashedLineSeries::new(points, 6, 4, style))
            } else {
                c.draw_series(LineSeries::new(points, style))
            };
            drawn.map_err(|e| e.to_string())?.label(s.name.as_str()).legend(legend);
        }
        c.configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(out)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

const CSS: &str = "body{font-family:sans-serif;margin:1.5em auto;max-width:1000px;color:#222}\
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}figure{margin:0 0 1em}\
svg{max-width:100%;height:auto;border:1px solid #ddd}pre{background:#f6f6f6;padding:.8em;overflow-x:auto;font-size:.8em}";

/// The whole page: a title, the run's summary text (if any), then each chart.
pub fn html(title: &str, subtitle: &str, summary: Option<&str>, charts: &[(Chart, String)]) -> String {
    let mut page = String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    let _ = writeln!(page, "<title>{}</title><style>{CSS}</style></head><body>", escape(title));
    let _ = writeln!(page, "<h1>{}</h1><p>{}</p>", escape(title), escape(subtitle));
    if let Some(text) = summary {
        let _ = writeln!(page, "<h2>Summary</h2><pre>{}</pre>", escape(text));
    }
    for (chart, svg) in charts {
        let _ = writeln!(page, "<figure data-chart=\"{}\">\n{svg}</figure>", escape(&chart.id));
    }
    page.push_str("</body></html>\n");
    page
}

/// Reads a run folder and writes the page to `out`. Returns how many charts it drew.
pub fn plot_dir(dir: &Path, out: &Path) -> Result<usize, Error> {
    let latency_path = dir.join("latency.csv");
    if !latency_path.is_file() {
        return Err(Error::NotARun { dir: dir.to_path_buf(), missing: "latency.csv" });
    }
    let optional = |name: &str| {
        let p = dir.join(name);
        if p.is_file() {
            read_text(&p).map(Some)
        } else {
            Ok(None)
        }
    };
    let inputs = Inputs {
        latency: read_text(&latency_path)?,
        system: optional("system.csv")?,
        broker: optional("broker.csv")?,
        connections: optional(crate::metrics::connections::FILE)?,
        summary: optional("summary.json")?,
    };
    let (start, charts) =
        charts(&inputs).map_err(|(file, line, detail)| Error::parse(&dir.join(file), line, detail))?;
    if charts.is_empty() {
        return Err(Error::Empty(format!("{}: no intervals to plot", latency_path.display())));
    }
    let start_text = start
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| {
            t.format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC")).ok()
        })
        .unwrap_or_else(|| "?".into());
    let x_label = format!("seconds from {start_text}");
    let mut drawn = Vec::new();
    for c in charts {
        let s =
            svg(&c, &x_label).map_err(|e| Error::parse(&dir.join("latency.csv"), 0, format!("chart {}: {e}", c.id)))?;
        drawn.push((c, s));
    }
    let title = format!(
        "lampi-agent run {}",
        dir.file_name().map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into_owned())
    );
    let subtitle = format!(
        "{} — started {start_text}; latency is corrected (from the intended start), raw is service time",
        dir.display()
    );
    let page = html(&title, &subtitle, optional("summary.txt")?.as_deref(), &drawn);
    std::fs::write(out, page).map_err(|e| Error::io(out, e))?;
    Ok(drawn.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LATENCY: &str = "# hostname;interval;timestamp;type;name;count;failures;rate/s;lat_min_ms;lat_mean_ms;lat_p50_ms;\
lat_p90_ms;lat_p95_ms;lat_p99_ms;lat_p999_ms;lat_max_ms;svc_min_ms;svc_mean_ms;svc_p50_ms;svc_p90_ms;svc_p95_ms;svc_p99_ms;\
svc_p999_ms;svc_max_ms;late_p99_ms;late_max_ms
vm;1;2026-11-27 14:48:38 UTC;MQTT;roundtrip;4;1;4.000;1;2;3;4;5;6;7;8;1;1;2;2;3;3;4;4;0.1;0.2
vm;1;2026-11-27 14:48:39 UTC;MQTT;roundtrip;0;0;0.000;;;;;;;;;;;;;;;;;;
vm;1;2026-11-27 14:48:39 UTC;GET;/lampi/device/[id];2;0;2.000;1;2;3;4;5;6;7;8;1;1;2;2;3;3;4;4;0.1;0.2
";
    const SYSTEM: &str = "# hostname;interval;timestamp;CPU;%user;%nice;%system;%iowait;%steal;%idle
vm;1;2026-11-27 14:48:38 UTC;-1;10.00;0.00;5.00;0.00;0.00;85.00
# hostname;interval;timestamp;kbmemfree;kbavail;kbmemused;%memused;kbbuffers;kbcached;kbcommit;%commit;kbactive;kbinact;kbdirty
vm;1;2026-11-27 14:48:38 UTC;1;1;1;42.50;1;1;1;1;1;1;1
";

    #[test]
    fn every_chart_is_built_from_the_run_files() {
        let inputs = Inputs { latency: LATENCY.into(), system: Some(SYSTEM.into()), ..Inputs::default() };
        let (start, built) = charts(&inputs).unwrap();
        assert_eq!(start, Some(1_795_790_917));
        let ids: Vec<&str> = built.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            ["latency-MQTT-roundtrip", "latency-GET-lampi-device-id", "throughput", "errors", "cpu", "memory"]
        );
        let rt = &built[0];
        let p99 = rt.series.iter().find(|s| s.name == "p99").unwrap();
        assert_eq!(p99.points, [(1.0, 6.0)], "an idle interval is a gap in latency, not a zero");
        assert!(rt.series.iter().any(|s| s.name.starts_with("raw p99") && s.dashed));
        assert_eq!(built[2].series[0].points, [(1.0, 4.0), (2.0, 0.0)], "throughput drops to zero");
        assert_eq!(built[4].series[0].points, [(1.0, 15.0)], "CPU busy = 100 - %idle");
        assert_eq!(built[5].series[0].points, [(1.0, 42.5)]);
        let err = charts(&Inputs { latency: "vm;1\n".into(), ..Inputs::default() }).unwrap_err();
        assert_eq!((err.0, err.1), ("latency.csv", 1));
    }

    #[test]
    fn connected_lamps_are_drawn_and_outages_shaded_on_every_chart() {
        let connections = "# hostname;interval;timestamp;lamps_up;owners_up;connect_attempts;connect_refused;connack_p50_ms;connack_p99_ms
vm;1;2026-11-27 14:48:38 UTC;200;2;200;0;1.000;3.000
vm;1;2026-11-27 14:48:39 UTC;0;0;150;150;;
";
        let summary = r#"{"outages": [{"kind": "broker", "start": "2026-11-27T14:48:38Z", "answered": null,
            "recovered": null, "time_to_recover_s": null}]}"#;
        let inputs = Inputs {
            latency: LATENCY.into(),
            connections: Some(connections.into()),
            summary: Some(summary.into()),
            ..Inputs::default()
        };
        let (_, built) = charts(&inputs).unwrap();
        let up = built.iter().find(|c| c.id == "connections").expect("connections chart");
        assert_eq!(up.series[0].name, "lamps");
        assert_eq!(up.series[0].points, [(1.0, 200.0), (2.0, 0.0)], "the dip is drawn");
        let connects = built.iter().find(|c| c.id == "connects").unwrap();
        assert_eq!(connects.series[1].points, [(1.0, 0.0), (2.0, 150.0)]);
        assert!(built.iter().all(|c| c.shade == [(1.0, 2.0)]), "open outage shaded to the end: {:?}", built[0].shade);
        let drawn = svg(up, "s").unwrap();
        assert!(drawn.contains("fill=\"#E6503C\""), "the window is drawn as a shaded rectangle");
        let unshaded = Chart { shade: Vec::new(), ..up.clone() };
        assert!(!svg(&unshaded, "s").unwrap().contains("#E6503C"), "no outage, no shading");
        assert!(outage_windows("not json", 0, 1.0).is_empty());
        let recovered = r#"{"outages": [{"start": "1970-01-01T00:00:10Z", "recovered": "1970-01-01T00:00:14Z"}]}"#;
        assert_eq!(outage_windows(recovered, 5, 100.0), [(5.0, 9.0)]);
    }

    #[test]
    fn the_page_is_self_contained_html_with_inline_svg() {
        let inputs = Inputs { latency: LATENCY.into(), ..Inputs::default() };
        let (_, built) = charts(&inputs).unwrap();
        let drawn: Vec<(Chart, String)> = built
            .into_iter()
            .map(|c| {
                let s = svg(&c, "s").unwrap();
                (c, s)
            })
            .collect();
        assert!(drawn[0].1.starts_with("<svg") && drawn[0].1.contains("Latency: MQTT roundtrip"));
        assert!(drawn[0].1.contains("<polyline") || drawn[0].1.contains("<path"), "lines are drawn");
        let page = html("run <x>", "sub", Some("a < b"), &drawn);
        assert!(page.starts_with("<!DOCTYPE html>") && page.contains("<title>run &lt;x&gt;</title>"));
        assert!(page.contains("<pre>a &lt; b</pre>"));
        assert_eq!(page.matches("<figure data-chart=").count(), 4);
        assert!(!page.contains("src=") && !page.contains("<link"), "nothing loaded from elsewhere");
        assert_eq!(slug("GET /lampi/device/[id]"), "GET-lampi-device-id");
    }
}
