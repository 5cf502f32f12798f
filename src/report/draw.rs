//! Drawing for the report pages: a [`Chart`] (series of points plus the marks laid over them: horizontal limit
//! lines for SLOs, vertical marks for a knee, shaded bands for outage windows) rendered to one SVG by `plotters`,
//! and the self-contained HTML page that holds the charts. No file and no run-folder knowledge here.

use std::fmt::Write as _;

use plotters::coord::combinators::{BindKeyPoints, IntoLogRange};
use plotters::prelude::*;

const SIZE: (u32, u32) = (960, 340);

/// One line on a chart: points are (x, y).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// Drawn dashed (raw service time next to corrected latency).
    pub dashed: bool,
    /// Palette index; `None`: the series' position. Two series of one run share a colour, solid and dashed.
    pub colour: Option<usize>,
}

/// What the x axis is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XAxis {
    /// A plain number (seconds from the start, offered load, a rank); the label is given at drawing.
    Linear,
    /// Percentile, log-scaled: x = -log10(1 - q), so 0 is 0 %, 1 is 90 %, 2 is 99 %, ... 4 is 99.99 %.
    Percentile,
}

/// A shaded span of x (an outage window).
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    pub label: String,
    pub from: f64,
    pub to: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// Stable id (`data-chart`), for tests and links.
    pub id: String,
    pub title: String,
    pub y_label: String,
    pub series: Vec<Series>,
    pub x_axis: XAxis,
    /// The x axis's label, when the page's default (time) does not fit.
    pub x_label: Option<String>,
    /// A log-scaled y axis (latency over time: one spike does not flatten the run).
    pub log_y: bool,
    /// Horizontal lines: (label, y), e.g. an SLO's limit.
    pub limits: Vec<(String, f64)>,
    /// Vertical lines: (label, x), e.g. the knee.
    pub marks: Vec<(String, f64)>,
    pub bands: Vec<Band>,
    /// A line on its own axis at the right (the connected lamps on a time chart).
    pub secondary: Option<Series>,
    /// Whole-number x ticks, at most this many (a rank axis).
    pub x_whole: Option<usize>,
}

impl Chart {
    pub fn new(id: &str, title: &str, y_label: &str) -> Chart {
        Chart {
            id: id.to_string(),
            title: title.to_string(),
            y_label: y_label.to_string(),
            series: Vec::new(),
            x_axis: XAxis::Linear,
            x_label: None,
            log_y: false,
            limits: Vec::new(),
            marks: Vec::new(),
            bands: Vec::new(),
            secondary: None,
            x_whole: None,
        }
    }

    /// Adds `(x, y)` to the series called `name`, creating it (in order of first appearance).
    pub fn push(&mut self, name: &str, dashed: bool, x: f64, y: f64) {
        match self.series.iter_mut().find(|s| s.name == name) {
            Some(s) => s.points.push((x, y)),
            None => self.series.push(Series { name: name.to_string(), points: vec![(x, y)], dashed, colour: None }),
        }
    }
}

/// The x of percentile `q` (0..1) on a [`XAxis::Percentile`] axis, capped at 99.99 %.
pub fn percentile_x(q: f64) -> f64 {
    (-(1.0 - q).max(1e-4).log10()).clamp(0.0, 4.0)
}

/// The label of an x on a [`XAxis::Percentile`] axis: `99.9%`.
pub fn percentile_label(x: f64) -> String {
    let p = 100.0 * (1.0 - 10f64.powf(-x));
    let text = format!("{p:.4}");
    format!("{}%", text.trim_end_matches('0').trim_end_matches('.'))
}

struct Extent {
    x: (f64, f64),
    y: (f64, f64),
}

fn extent(chart: &Chart) -> Extent {
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, 0f64);
    let xs = chart.series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let xs = xs.chain(chart.marks.iter().map(|m| m.1)).chain(chart.bands.iter().flat_map(|b| [b.from, b.to]));
    for x in xs {
        (x0, x1) = (x0.min(x), x1.max(x));
    }
    let ys = chart.series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).chain(chart.limits.iter().map(|l| l.1));
    for y in ys.filter(|y| !chart.log_y || *y > 0.0) {
        (y0, y1) = (y0.min(y), y1.max(y));
    }
    if chart.x_axis == XAxis::Percentile {
        (x0, x1) = (0.0, 4.0);
    }
    if x0 > x1 {
        (x0, x1) = (0.0, 1.0);
    }
    if x1 - x0 < 1e-9 {
        x1 = x0 + 1.0;
    }
    let y = if chart.log_y {
        let lo = if y0 > y1 { 0.1 } else { y0 * 0.8 };
        (lo, (y1 * 1.25).max(lo * 10.0))
    } else {
        (0.0, if y1 <= 0.0 { 1.0 } else { y1 * 1.08 })
    };
    Extent { x: (x0, x1), y }
}

/// Labels for a log axis from `lo` to `hi`: 1, 2, 5 times the powers of ten in between (plotters' own gives only the
/// powers, often a single label on a chart that spans less than a decade).
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mut ticks = Vec::new();
    let mut decade = 10f64.powf(lo.max(1e-9).log10().floor());
    while decade <= hi {
        for m in [1.0, 2.0, 5.0] {
            let t = decade * m;
            if t >= lo && t <= hi {
                ticks.push(t);
            }
        }
        decade *= 10.0;
    }
    ticks
}

/// The primary layers of a chart on context `$c`: mesh, bands, series, limit lines, marks.
macro_rules! layers {
    ($c:ident, $chart:expr, $x_label:expr, $ylo:expr, $yhi:expr, $e:ident) => {{
        let chart: &Chart = $chart;
        let e = $e;
        let percent = |x: &f64| percentile_label(*x);
        let plain = |x: &f64| {
            let t = format!("{x:.2}");
            t.trim_end_matches('0').trim_end_matches('.').to_string()
        };
        let mut mesh = $c.configure_mesh();
        mesh.x_desc($x_label).y_desc(&chart.y_label).light_line_style(WHITE.mix(0.0));
        let sig = |y: &f64| {
            let digits = (2 - y.abs().max(1e-9).log10().floor() as i32).clamp(0, 6) as usize;
            format!("{y:.digits$}")
        };
        if chart.log_y {
            mesh.y_label_formatter(&sig);
        }
        if chart.x_axis == XAxis::Percentile {
            mesh.x_labels(5).x_label_formatter(&percent);
        } else {
            mesh.x_label_formatter(&plain);
        }
        if let Some(n) = chart.x_whole {
            mesh.x_labels(n);
        }
        mesh.draw().map_err(|x| e(&x))?;
        for (i, b) in chart.bands.iter().enumerate() {
            let colour = RGBColor(230, 90, 40).mix(0.15 + 0.05 * (i % 2) as f64);
            let r = Rectangle::new([(b.from, $ylo), (b.to, $yhi)], colour.filled());
            $c.draw_series(std::iter::once(r)).map_err(|x| e(&x))?.label(b.label.as_str()).legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 20, y + 5)], RGBColor(230, 90, 40).mix(0.3).filled())
            });
        }
        for (i, s) in chart.series.iter().enumerate() {
            let style = Palette99::pick(s.colour.unwrap_or(i)).to_rgba().stroke_width(2);
            let points = s.points.iter().copied().filter(|p| !chart.log_y || p.1 > 0.0);
            if s.dashed {
                let legend = move |(x, y): (i32, i32)| {
                    EmptyElement::at((x, y))
                        + PathElement::new(vec![(0, 0), (8, 0)], style)
                        + PathElement::new(vec![(12, 0), (20, 0)], style)
                };
                let drawn = $c.draw_series(DashedLineSeries::new(points, 6, 4, style)).map_err(|x| e(&x))?;
                drawn.label(s.name.as_str()).legend(legend);
            } else {
                let legend = move |(x, y): (i32, i32)| PathElement::new(vec![(x, y), (x + 20, y)], style);
                $c.draw_series(LineSeries::new(points, style)).map_err(|x| e(&x))?.label(s.name.as_str()).legend(legend);
            }
            if s.points.len() == 1 || chart.id.starts_with("limit-") || chart.x_whole.is_some() {
                let dots = s.points.iter().map(|p| Circle::new(*p, 3, style.filled()));
                $c.draw_series(dots).map_err(|x| e(&x))?;
            }
        }
        let xr = $c.x_range();
        let (x0, x1) = (xr.start, xr.end);
        for (label, y) in &chart.limits {
            let style = RED.stroke_width(1);
            let line = DashedLineSeries::new([(x0, *y), (x1, *y)], 3, 3, style);
            $c.draw_series(line)
                .map_err(|x| e(&x))?
                .label(label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
        for (i, (label, x)) in chart.marks.iter().enumerate() {
            let colour = if i % 2 == 0 { RGBColor(40, 40, 40) } else { RGBColor(120, 60, 200) };
            let style = colour.stroke_width(2);
            let line = DashedLineSeries::new([(*x, $ylo), (*x, $yhi)], 5, 3, style);
            $c.draw_series(line)
                .map_err(|x| e(&x))?
                .label(label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
    }};
}

/// The legend box of a chart on context `$c`.
macro_rules! legend {
    ($c:ident, $e:ident) => {
        $c.configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .draw()
            .map_err(|x| $e(&x))?
    };
}

/// The body of [`svg`] for one kind of y range (linear or log), which plotters types differently.
macro_rules! draw {
    ($root:expr, $chart:expr, $x_label:expr, $x:expr, $y:expr, $ylo:expr, $yhi:expr) => {{
        let chart: &Chart = $chart;
        let e = |e: &dyn std::fmt::Display| e.to_string();
        let mut builder = ChartBuilder::on($root);
        builder.caption(&chart.title, ("sans-serif", 18)).margin(12).x_label_area_size(40).y_label_area_size(64);
        if chart.secondary.is_some() {
            builder.right_y_label_area_size(56);
        } else {
            builder.margin_right(40);
        }
        let mut c = builder.build_cartesian_2d($x, $y).map_err(|x| e(&x))?;
        match &chart.secondary {
            Some(sec) => {
                let xr = c.x_range();
                let top = sec.points.iter().map(|p| p.1).fold(1.0, f64::max) * 1.1;
                // Secondary first: it takes the right label area, so the primary mesh labels only the left.
                let mut c = c.set_secondary_coord(xr, 0f64..top);
                layers!(c, chart, $x_label, $ylo, $yhi, e);
                c.configure_secondary_axes().y_desc(&sec.name).draw().map_err(|x| e(&x))?;
                let style = RGBColor(90, 90, 90).stroke_width(1);
                let points = sec.points.iter().copied();
                c.draw_secondary_series(LineSeries::new(points, style))
                    .map_err(|x| e(&x))?
                    .label(format!("{} (right axis)", sec.name))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
                legend!(c, e);
            }
            None => {
                layers!(c, chart, $x_label, $ylo, $yhi, e);
                legend!(c, e);
            }
        }
    }};
}

/// Draws one chart as an SVG document; `x_label` is used unless the chart names its own.
pub fn svg(chart: &Chart, x_label: &str) -> Result<String, String> {
    let ext = extent(chart);
    let x_label = chart.x_label.as_deref().unwrap_or(match chart.x_axis {
        XAxis::Percentile => "percentile (log scale: each step right is ten times rarer)",
        XAxis::Linear => x_label,
    });
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (x, (y0, y1)) = (ext.x.0..ext.x.1, ext.y);
        if chart.log_y {
            let ticks = log_ticks(y0, y1);
            draw!(&root, chart, x_label, x, (y0..y1).log_scale().with_key_points(ticks), y0, y1);
        } else {
            draw!(&root, chart, x_label, x, y0..y1, y0, y1);
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(out)
}

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

const CSS: &str = "body{font-family:sans-serif;margin:1.5em auto;max-width:1000px;color:#222}\
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}figure{margin:0 0 1em}figcaption{font-size:.85em;color:#555}\
svg{max-width:100%;height:auto;border:1px solid #ddd}pre{background:#f6f6f6;padding:.8em;overflow-x:auto;font-size:.8em}";

/// The whole page: a title, a subtitle, text sections (`(heading, preformatted text)`), then each chart with an
/// optional caption.
pub fn html(title: &str, subtitle: &str, texts: &[(&str, &str)], charts: &[(Chart, String)]) -> String {
    let mut page = String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    let _ = writeln!(page, "<title>{}</title><style>{CSS}</style></head><body>", escape(title));
    let _ = writeln!(page, "<h1>{}</h1><p>{}</p>", escape(title), escape(subtitle));
    for (heading, text) in texts {
        let _ = writeln!(page, "<h2>{}</h2><pre>{}</pre>", escape(heading), escape(text));
    }
    for (chart, svg) in charts {
        let _ = writeln!(page, "<figure data-chart=\"{}\">\n{svg}</figure>", escape(&chart.id));
    }
    page.push_str("</body></html>\n");
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_axes_are_labelled_one_two_five() {
        assert_eq!(log_ticks(1.5, 13.0), [2.0, 5.0, 10.0]);
        assert_eq!(log_ticks(0.8, 250.0), [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0]);
    }

    #[test]
    fn the_percentile_axis_is_logarithmic_to_four_nines() {
        assert_eq!(percentile_x(0.0), 0.0);
        assert!((percentile_x(0.9) - 1.0).abs() < 1e-9);
        assert!((percentile_x(0.999) - 3.0).abs() < 1e-9);
        assert_eq!(percentile_x(1.0), 4.0, "100 % is drawn at 99.99 %");
        assert_eq!(percentile_label(0.0), "0%");
        assert_eq!(percentile_label(2.0), "99%");
        assert_eq!(percentile_label(4.0), "99.99%");
    }

    #[test]
    fn limits_marks_and_bands_are_drawn_and_labelled() {
        let mut c = Chart::new("t", "T", "ms");
        c.log_y = true;
        c.push("p99", false, 0.0, 1.0);
        c.push("p99", false, 10.0, 1000.0);
        c.push("p99", false, 11.0, 0.0); // not drawable on a log axis: left out, not an error
        c.limits.push(("SLO p99 < 100ms".into(), 100.0));
        c.marks.push(("knee".into(), 5.0));
        c.bands.push(Band { label: "outage (broker)".into(), from: 2.0, to: 4.0 });
        let lamps = vec![(0.0, 10.0), (10.0, 4.0)];
        c.secondary = Some(Series { name: "lamps up".into(), points: lamps, dashed: false, colour: None });
        let s = svg(&c, "seconds").unwrap();
        for text in ["SLO p99 &lt; 100ms", "knee", "outage (broker)", "p99", "1000", "lamps up (right axis)"] {
            assert!(s.contains(text), "{text} missing");
        }
        assert!(s.contains("<rect") && s.contains("<polyline"), "a band and lines");
        let mut d = Chart::new("d", "D", "ms");
        d.x_axis = XAxis::Percentile;
        d.push("corrected", false, 0.0, 1.0);
        d.push("corrected", false, 4.0, 3.0);
        let s = svg(&d, "unused").unwrap();
        assert!(s.contains("99.99%") && s.contains("percentile (log scale"), "percent labels");
    }
}
