//! Charts of a resource history, drawn on the server as SVG (no chart library in the
//! bundle): [`chart`] draws one [`ChartSpec`] of a [`Series`] — an average line per field, its
//! min–max band, an optional limit (dashed), a y axis with round ticks in the field's unit and
//! an x axis with times suited to the range — and [`Sparkline`] a card's tiny CPU line.
//!
//! A slot without a value (`None`: the node did not answer, Kiln was down) breaks the line:
//! a gap is drawn as a gap, never bridged. Colours are classes (`chart-line-0`...) that the
//! stylesheet maps to the theme's custom properties, so both themes work and no inline style
//! is needed (the Content-Security-Policy allows none). Times are UTC, like the rest of Kiln.
//!
//! Hover and keyboard stepping are the [`ChartHover`] island's: it reads what it shows from
//! the chart's `data-*` attributes (the slots' values, already formatted), so its props are
//! nothing but its server-rendered children.
//!
//! **Invariant:** the SVG is a string built here from numbers and fixed words; anything else
//! (a member's name in a label) goes through [`escape`].

use std::fmt::Write as _;

use kiln_shared::metrics::{Field, Range, Series, Unit};
use leptos::prelude::*;

use crate::components::format::{SIZE_UNITS, figure, share, size, size_unit};

/// The SVG's coordinate system (`viewBox`), and the plot area inside it.
/// About the width a chart gets in the page's two-column grid, so its 11 px labels stay
/// near 11 px.
pub const WIDTH: f64 = 480.0;
pub const HEIGHT: f64 = 170.0;
pub const LEFT: f64 = 60.0;
pub const RIGHT: f64 = 12.0;
pub const TOP: f64 = 10.0;
pub const BOTTOM: f64 = 24.0;

/// One chart: a title, the fields drawn as lines (with their legend words), and an optional
/// field drawn as a dashed limit (a memory or disk size) that also sets the y axis' top.
#[derive(Debug, Clone, Copy)]
pub struct ChartSpec {
    pub title: &'static str,
    /// Its `data-test` name (`chart-<name>`) and its element id.
    pub name: &'static str,
    pub lines: &'static [(Field, &'static str)],
    pub limit: Option<(Field, &'static str)>,
}

/// A container's charts, in page order.
pub const GUEST_CHARTS: [ChartSpec; 5] = [
    ChartSpec {
        title: "CPU",
        name: "cpu",
        lines: &[(Field::Cpu, "CPU")],
        limit: None,
    },
    ChartSpec {
        title: "Memory",
        name: "mem",
        lines: &[(Field::Mem, "Used")],
        limit: Some((Field::MaxMem, "Limit")),
    },
    ChartSpec {
        title: "Disk",
        name: "disk",
        lines: &[(Field::Disk, "Used")],
        limit: Some((Field::MaxDisk, "Size")),
    },
    ChartSpec {
        title: "Network",
        name: "net",
        lines: &[(Field::NetIn, "In"), (Field::NetOut, "Out")],
        limit: None,
    },
    ChartSpec {
        title: "Disk I/O",
        name: "io",
        lines: &[(Field::DiskRead, "Read"), (Field::DiskWrite, "Write")],
        limit: None,
    },
];

/// A cluster member's charts, in page order.
pub const MEMBER_CHARTS: [ChartSpec; 4] = [
    GUEST_CHARTS[0],
    ChartSpec {
        title: "Memory",
        name: "mem",
        lines: &[(Field::Mem, "Used")],
        limit: Some((Field::MaxMem, "Total")),
    },
    ChartSpec {
        title: "Disk",
        name: "disk",
        lines: &[(Field::Disk, "Used")],
        limit: Some((Field::MaxDisk, "Size")),
    },
    ChartSpec {
        title: "Load",
        name: "load",
        lines: &[(Field::Load, "Load (1 min)")],
        limit: None,
    },
];

/// Text made safe inside SVG/HTML markup.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A value of `unit` as people read it (`12.5 %`, `1.5 GiB`, `300 KiB/s`, `0.52`).
pub fn value_text(unit: Unit, value: f64) -> String {
    match unit {
        Unit::Share => share(value),
        Unit::Bytes => size(value),
        Unit::BytesPerSec => format!("{}/s", size(value)),
        Unit::Plain => figure(value),
    }
}

/// A round step near `rough`: 1, 2 or 5 times a power of ten.
fn nice_step(rough: f64) -> f64 {
    if !rough.is_finite() || rough <= 0.0 {
        return 1.0;
    }
    let power = 10f64.powf(rough.log10().floor());
    let f = rough / power;
    let nice = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * power
}

/// A y axis: its top (in the field's unit) and its ticks, each a value and its label.
#[derive(Debug, Clone, PartialEq)]
pub struct YAxis {
    pub top: f64,
    pub ticks: Vec<(f64, String)>,
}

/// The y axis for values of `unit` up to `max`: from 0 to a round top, 3 to 6 ticks
/// labelled in one unit (a share in percent, bytes in the binary unit `max` reads in).
pub fn y_axis(unit: Unit, max: f64) -> YAxis {
    let max = if max.is_finite() { max.max(0.0) } else { 0.0 };
    // Shown values are the stored ones times `scale`, followed by `suffix`.
    let (scale, suffix) = match unit {
        Unit::Share => (100.0, " %".to_owned()),
        Unit::Bytes | Unit::BytesPerSec => {
            let (index, bytes) = size_unit(max.max(1024.0));
            let rate = if unit == Unit::BytesPerSec { "/s" } else { "" };
            (1.0 / bytes, format!(" {}{rate}", SIZE_UNITS[index]))
        }
        Unit::Plain => (1.0, String::new()),
    };
    // An empty or flat-zero chart still gets an axis: 0 to 1 of its unit.
    let shown_max = (max * scale).max(1.0);
    let step = nice_step(shown_max / 4.0);
    let count = (shown_max / step - 1e-9).ceil().max(1.0) as usize;
    let ticks = (0..=count)
        .map(|i| {
            let shown = step * i as f64;
            let label = if i == 0 {
                "0".to_owned()
            } else {
                format!("{}{suffix}", figure(shown))
            };
            (shown / scale, label)
        })
        .collect();
    YAxis {
        top: step * count as f64 / scale,
        ticks,
    }
}

/// The civil date (year, month 1–12, day 1–31) of a day counted from 1970-01-01.
pub fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

/// The day (counted from 1970-01-01) of a civil date.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn month_name(month: u32) -> &'static str {
    MONTHS[(month.clamp(1, 12) - 1) as usize]
}

/// `14:05` of a unix time (UTC).
fn clock(t: i64) -> String {
    let secs = t.rem_euclid(86_400);
    format!("{:02}:{:02}", secs / 3600, secs % 3600 / 60)
}

/// `Dec 6` of a unix time (UTC).
fn day_label(t: i64) -> String {
    let (_, month, day) = civil(t.div_euclid(86_400));
    format!("{} {day}", month_name(month))
}

/// A slot's time as the hover shows it: `Dec 6 14:05 UTC`; `Dec 6 2026` for a year's days.
pub fn slot_time(range: Range, t: i64) -> String {
    match range {
        Range::Year => {
            let (year, _, _) = civil(t.div_euclid(86_400));
            format!("{} {year}", day_label(t))
        }
        _ => format!("{} {} UTC", day_label(t), clock(t)),
    }
}

/// The x axis' labels of a series over `range` starting at `from` with `slots` slots of
/// `step` seconds: each a position in 0..=1 across the plot and its text — every 10 minutes
/// for an hour, 3 hours for a day, a day for a week, 5 days for a month, each month's first
/// day for a year (the year's number on January).
pub fn x_labels(range: Range, from: i64, step: i64, slots: usize) -> Vec<(f64, String)> {
    let span = step * i64::try_from(slots).unwrap_or(0);
    if span <= 0 {
        return Vec::new();
    }
    let end = from + span;
    let at = |t: i64| (t - from) as f64 / span as f64;
    let mut out = Vec::new();
    match range {
        Range::Year => {
            let (mut year, mut month, _) = civil(from.div_euclid(86_400));
            loop {
                (year, month) = if month == 12 {
                    (year + 1, 1)
                } else {
                    (year, month + 1)
                };
                let t = days_from_civil(year, month, 1) * 86_400;
                if t >= end {
                    break;
                }
                let text = if month == 1 {
                    year.to_string()
                } else {
                    month_name(month).to_owned()
                };
                out.push((at(t), text));
            }
        }
        _ => {
            let every = match range {
                Range::Hour => 600,
                Range::Day => 3 * 3600,
                Range::Week => 86_400,
                _ => 5 * 86_400,
            };
            let mut t = (from + every - 1).div_euclid(every) * every;
            while t < end {
                let text = match range {
                    Range::Hour | Range::Day => clock(t),
                    _ => day_label(t),
                };
                out.push((at(t), text));
                t += every;
            }
        }
    }
    out
}

/// The x of slot `i` of `n` (its middle) in the SVG's coordinates.
pub fn slot_x(i: usize, n: usize) -> f64 {
    LEFT + (i as f64 + 0.5) / n.max(1) as f64 * (WIDTH - LEFT - RIGHT)
}

/// The slot under `x` (SVG coordinates), for `n` slots.
pub fn slot_at(x: f64, n: usize) -> usize {
    let share = (x - LEFT) / (WIDTH - LEFT - RIGHT);
    let i = (share * n as f64).floor();
    if i.is_nan() || i < 0.0 {
        0
    } else {
        (i as usize).min(n.saturating_sub(1))
    }
}

/// An SVG path through `values` (x from `x_of`, y from `y_of`) that breaks at every `None`:
/// each run of values is its own `M…L…` subpath; a lone value is a dot (a zero-length
/// segment, drawn by the round line cap).
pub fn line_path(
    values: &[Option<f64>],
    x_of: impl Fn(usize) -> f64,
    y_of: impl Fn(f64) -> f64,
) -> String {
    let mut d = String::new();
    let mut drawing = false;
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) if v.is_finite() => {
                let cmd = if drawing { 'L' } else { 'M' };
                let _ = write!(d, "{cmd}{:.1} {:.1}", x_of(i), y_of(*v));
                let lone = !drawing && !matches!(values.get(i + 1), Some(Some(_)));
                if lone {
                    d.push_str("h0");
                }
                drawing = true;
            }
            _ => drawing = false,
        }
    }
    d
}

/// An SVG path of the band between `low` and `high`: one closed shape per run of slots
/// where both are known.
pub fn band_path(
    low: &[Option<f64>],
    high: &[Option<f64>],
    x_of: impl Fn(usize) -> f64,
    y_of: impl Fn(f64) -> f64,
) -> String {
    let mut d = String::new();
    let mut run: Vec<(usize, f64, f64)> = Vec::new();
    let mut close = |run: &mut Vec<(usize, f64, f64)>| {
        if run.len() > 1 {
            for (k, (i, _, hi)) in run.iter().enumerate() {
                let cmd = if k == 0 { 'M' } else { 'L' };
                let _ = write!(d, "{cmd}{:.1} {:.1}", x_of(*i), y_of(*hi));
            }
            for (i, lo, _) in run.iter().rev() {
                let _ = write!(d, "L{:.1} {:.1}", x_of(*i), y_of(*lo));
            }
            d.push('Z');
        }
        run.clear();
    };
    for (i, (lo, hi)) in low.iter().zip(high).enumerate() {
        match (*lo, *hi) {
            (Some(lo), Some(hi)) if lo.is_finite() && hi.is_finite() => run.push((i, lo, hi)),
            _ => close(&mut run),
        }
    }
    close(&mut run);
    d
}

fn widen(values: &[Option<f32>]) -> Vec<Option<f64>> {
    values.iter().map(|v| v.map(f64::from)).collect()
}

/// The largest known value of `values`.
fn peak(values: &[Option<f64>]) -> Option<f64> {
    values
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .reduce(f64::max)
}

/// The last known value of `values`.
fn latest(values: &[Option<f64>]) -> Option<f64> {
    values.iter().rev().flatten().copied().next()
}

/// One line of a chart: its legend word and its slots' averages, minimums and maximums.
struct Plot<'a> {
    label: &'a str,
    avg: Vec<Option<f64>>,
    low: Vec<Option<f64>>,
    high: Vec<Option<f64>>,
}

/// One chart drawn: the SVG, what the hover reads (`labels`, `values`: per slot, each
/// line's value formatted, `|` between lines, `;` between slots) and a one-line summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Drawn {
    pub svg: String,
    pub labels: String,
    pub values: String,
    pub summary: String,
}

/// Draws `spec` of `series` (see the module docs). `subject` names whose history it is, for
/// the summary read to screen readers (e.g. `web-1`, `pve-a`).
pub fn draw(series: &Series, spec: &ChartSpec, subject: &str) -> Drawn {
    let n = series.len();
    let unit = spec.lines.first().map_or(Unit::Plain, |(f, _)| f.unit());
    let empty = || vec![None; n];
    let lines: Vec<Plot> = spec
        .lines
        .iter()
        .map(|(field, label)| match series.line(*field) {
            Some(l) => Plot {
                label,
                avg: widen(&l.avg),
                low: widen(&l.min),
                high: widen(&l.max),
            },
            None => Plot {
                label,
                avg: empty(),
                low: empty(),
                high: empty(),
            },
        })
        .collect();
    let limit = spec.limit.map(|(field, label)| {
        let values = series.line(field).map_or_else(empty, |l| widen(&l.avg));
        (label, values)
    });
    let max = lines
        .iter()
        .flat_map(|p| [peak(&p.avg), peak(&p.high)])
        .chain(limit.iter().map(|(_, v)| peak(v)))
        .flatten()
        .fold(0.0, f64::max);
    let axis = y_axis(unit, max);
    let plot_h = HEIGHT - TOP - BOTTOM;
    let y_of = |v: f64| TOP + plot_h * (1.0 - (v / axis.top).clamp(0.0, 1.0));
    let x_of = |i: usize| slot_x(i, n);

    let mut svg = String::with_capacity(4096);
    let title = format!(
        "{} of {} over {}",
        spec.title,
        subject,
        series.range.label()
    );
    let summary = summary(&title, unit, &lines, limit.as_ref());
    let _ = write!(
        svg,
        r#"<svg class="chart-svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{}"><title>{}</title>"#,
        escape(&summary),
        escape(&title),
    );
    // Grid and y labels.
    svg.push_str(r#"<g class="chart-gridlines">"#);
    for (value, label) in &axis.ticks {
        let y = y_of(*value);
        let _ = write!(
            svg,
            r#"<line x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}"/><text class="chart-y" x="{:.1}" y="{:.1}">{}</text>"#,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            escape(label),
        );
    }
    svg.push_str("</g>");
    // X labels.
    svg.push_str(r#"<g class="chart-x">"#);
    for (at, label) in x_labels(series.range, series.from, series.step, n) {
        let x = LEFT + at * (WIDTH - LEFT - RIGHT);
        let _ = write!(
            svg,
            r#"<line x1="{x:.1}" x2="{x:.1}" y1="{:.1}" y2="{:.1}"/><text x="{x:.1}" y="{:.1}">{}</text>"#,
            HEIGHT - BOTTOM,
            HEIGHT - BOTTOM + 4.0,
            HEIGHT - 6.0,
            escape(&label),
        );
    }
    svg.push_str("</g>");
    // Bands under lines; the limit; the lines.
    for (k, p) in lines.iter().enumerate() {
        let d = band_path(&p.low, &p.high, x_of, y_of);
        if !d.is_empty() {
            let _ = write!(svg, r#"<path class="chart-band chart-band-{k}" d="{d}"/>"#);
        }
    }
    if let Some((_, values)) = &limit {
        let d = line_path(values, x_of, y_of);
        if !d.is_empty() {
            let _ = write!(svg, r#"<path class="chart-limit" d="{d}"/>"#);
        }
    }
    for (k, p) in lines.iter().enumerate() {
        let d = line_path(&p.avg, x_of, y_of);
        let _ = write!(
            svg,
            r#"<path class="chart-line chart-line-{k}" data-test="chart-line" d="{d}"/>"#
        );
    }
    let _ = write!(
        svg,
        r#"<line class="chart-rule" data-rule="" x1="0" x2="0" y1="{TOP}" y2="{:.1}" hidden=""/></svg>"#,
        HEIGHT - BOTTOM,
    );

    // What the hover reads.
    let mut labels: Vec<&str> = lines.iter().map(|p| p.label).collect();
    labels.extend(limit.iter().map(|(label, _)| *label));
    let mut values = String::with_capacity(n * 8);
    for i in 0..n {
        if i > 0 {
            values.push(';');
        }
        let cells = lines
            .iter()
            .map(|p| p.avg[i])
            .chain(limit.iter().map(|(_, v)| v[i]));
        for (k, v) in cells.enumerate() {
            if k > 0 {
                values.push('|');
            }
            if let Some(v) = v {
                values.push_str(&value_text(unit, v));
            }
        }
    }
    Drawn {
        svg,
        labels: labels.join("|"),
        values,
        summary,
    }
}

/// `CPU of web-1 over 24 hours: latest 12 %, highest 40 %` (each line's; "no data" when a
/// line has none).
fn summary(
    title: &str,
    unit: Unit,
    lines: &[Plot],
    limit: Option<&(&str, Vec<Option<f64>>)>,
) -> String {
    let one = lines.len() == 1;
    let parts: Vec<String> = lines
        .iter()
        .map(|p| {
            let name = if one {
                String::new()
            } else {
                format!("{} ", p.label)
            };
            match (latest(&p.avg), peak(&p.high).or(peak(&p.avg))) {
                (Some(last), Some(top)) => format!(
                    "{name}latest {}, highest {}",
                    value_text(unit, last),
                    value_text(unit, top)
                ),
                _ => format!("{name}no data"),
            }
        })
        .collect();
    let mut text = format!("{title}: {}", parts.join("; "));
    if let Some((label, values)) = limit
        && let Some(v) = latest(values)
    {
        let _ = write!(text, " ({} {})", label.to_lowercase(), value_text(unit, v));
    }
    text
}

/// One chart in its figure: the title, a legend, the readout the hover writes into (the
/// summary until then) and the SVG; `data-*` attributes for the [`ChartHover`] island.
#[component]
pub fn Chart(series: Series, spec: ChartSpec, #[prop(into)] subject: String) -> impl IntoView {
    let drawn = draw(&series, &spec, &subject);
    let mut legend: Vec<(String, &'static str)> = spec
        .lines
        .iter()
        .enumerate()
        .map(|(k, (_, label))| (format!("chart-swatch chart-swatch-{k}"), *label))
        .collect();
    legend.extend(
        spec.limit
            .map(|(_, label)| ("chart-swatch chart-swatch-limit".to_owned(), label)),
    );
    let idle = drawn.summary.clone();
    view! {
        <figure class="chart" data-test=format!("chart-{}", spec.name) data-chart=""
            data-range=series.range.as_str() data-from=series.from data-step=series.step
            data-n=series.len() data-labels=drawn.labels data-values=drawn.values tabindex="0"
            aria-label=format!("{} (arrow keys step through the values)", spec.title)>
            <figcaption class="chart-head">
                <span class="chart-title">{spec.title}</span>
                <span class="chart-legend">
                    {legend.into_iter().map(|(class, label)| view! {
                        <span class="chart-key"><span class=class aria-hidden="true"></span>{label}</span>
                    }).collect_view()}
                </span>
                <output class="chart-readout small muted" data-readout="" data-idle=idle aria-live="polite">
                    {drawn.summary}
                </output>
            </figcaption>
            <div class="chart-plot" inner_html=drawn.svg></div>
        </figure>
    }
}

/// The range picker: one plain link per range (the current one marked), so it works
/// without JavaScript; `href` makes a range's URL.
#[component]
pub fn RangePicker(current: Range, href: impl Fn(Range) -> String) -> impl IntoView {
    view! {
        <nav class="range-picker" aria-label="Time range" data-test="range-picker">
            {Range::ALL.into_iter().map(|r| view! {
                <a href=href(r) data-test=format!("range-{}", r.as_str()) title=r.label()
                    aria-current={(r == current).then_some("page")}>{r.as_str()}</a>
            }).collect_view()}
        </nav>
    }
}

/// A card's CPU over the last hour: a tiny line (gaps as breaks), scaled to its peak (at
/// least 10 %); the peak and the latest value in its label.
#[component]
pub fn Sparkline(values: kiln_shared::metrics::Sparkline) -> impl IntoView {
    let (svg, label) = sparkline_svg(&values);
    view! { <span class="sparkline" data-test="sparkline" title=label inner_html=svg></span> }
}

/// The sparkline's SVG and its label.
pub fn sparkline_svg(values: &[Option<f32>]) -> (String, String) {
    const W: f64 = 60.0;
    const H: f64 = 16.0;
    let values = widen(values);
    let n = values.len().max(1);
    let top = peak(&values).unwrap_or(0.0).max(0.1);
    let d = line_path(
        &values,
        |i| (i as f64 + 0.5) * W / n as f64,
        |v| 1.0 + (H - 2.0) * (1.0 - (v / top).clamp(0.0, 1.0)),
    );
    let label = match (latest(&values), peak(&values)) {
        (Some(last), Some(high)) => format!(
            "CPU over the last hour: latest {}, highest {}",
            share(last),
            share(high)
        ),
        _ => "CPU over the last hour: no data".to_owned(),
    };
    let svg = format!(
        r#"<svg viewBox="0 0 {W} {H}" preserveAspectRatio="none" role="img" aria-label="{}"><path d="{d}"/></svg>"#,
        escape(&label)
    );
    (svg, label)
}

/// Hover and keyboard over the server-rendered charts inside it (an island, no props but
/// its children): pointer over a chart shows a vertical rule at the slot under it and the
/// slot's time and values in the chart's readout; a focused chart steps with ←/→ (Home,
/// End; Escape hides). It reads everything from the chart's `data-*` attributes.
#[island]
pub fn ChartHover(children: Children) -> impl IntoView {
    let on_move = move |ev: leptos::ev::PointerEvent| {
        #[cfg(feature = "hydrate")]
        hover::moved(&ev);
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };
    let on_leave = move |ev: leptos::ev::PointerEvent| {
        #[cfg(feature = "hydrate")]
        hover::left(&ev);
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        #[cfg(feature = "hydrate")]
        hover::key(&ev);
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };
    let on_blur = move |ev: leptos::ev::FocusEvent| {
        #[cfg(feature = "hydrate")]
        hover::blurred(&ev);
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };
    view! {
        <div class="chart-hover" on:pointermove=on_move on:pointerout=on_leave on:keydown=on_key on:focusout=on_blur>
            {children()}
        </div>
    }
}

#[cfg(feature = "hydrate")]
mod hover {
    use kiln_shared::metrics::Range;
    use wasm_bindgen::JsCast;
    use web_sys::Element;

    use super::{WIDTH, slot_at, slot_time, slot_x};
    use crate::components::dom::{one, set_hidden};

    /// The chart (`[data-chart]`) an event happened in.
    fn chart_of(target: Option<web_sys::EventTarget>) -> Option<Element> {
        target?
            .dyn_into::<Element>()
            .ok()?
            .closest("[data-chart]")
            .ok()?
    }

    fn number(el: &Element, name: &str) -> i64 {
        el.get_attribute(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    fn slots(chart: &Element) -> usize {
        usize::try_from(number(chart, "data-n")).unwrap_or(0)
    }

    /// Shows slot `i` of `chart`: the rule at its x, its time and values in the readout.
    fn show(chart: &Element, i: usize) {
        let n = slots(chart);
        if n == 0 {
            return;
        }
        let i = i.min(n - 1);
        let _ = chart.set_attribute("data-at", &i.to_string());
        if let Some(rule) = one(chart, "[data-rule]") {
            let x = format!("{:.1}", slot_x(i, n));
            let _ = rule.set_attribute("x1", &x);
            let _ = rule.set_attribute("x2", &x);
            set_hidden(&rule, false);
        }
        let range = Range::parse(chart.get_attribute("data-range").as_deref());
        let t =
            number(chart, "data-from") + number(chart, "data-step") * i64::try_from(i).unwrap_or(0);
        let labels = chart.get_attribute("data-labels").unwrap_or_default();
        let values = chart.get_attribute("data-values").unwrap_or_default();
        let cells = values.split(';').nth(i).unwrap_or_default();
        let parts: Vec<String> = labels
            .split('|')
            .zip(cells.split('|'))
            .filter(|(_, v)| !v.is_empty())
            .map(|(label, v)| format!("{label} {v}"))
            .collect();
        let text = if parts.is_empty() {
            format!("{}: no data", slot_time(range, t))
        } else {
            format!("{}: {}", slot_time(range, t), parts.join(" · "))
        };
        if let Some(readout) = one(chart, "[data-readout]") {
            readout.set_text_content(Some(&text));
        }
    }

    /// Hides the rule and puts the summary back.
    fn hide(chart: &Element) {
        let _ = chart.remove_attribute("data-at");
        if let Some(rule) = one(chart, "[data-rule]") {
            set_hidden(&rule, true);
        }
        if let Some(readout) = one(chart, "[data-readout]") {
            let idle = readout.get_attribute("data-idle").unwrap_or_default();
            readout.set_text_content(Some(&idle));
        }
    }

    pub(super) fn moved(ev: &web_sys::PointerEvent) {
        let Some(chart) = chart_of(ev.target()) else {
            return;
        };
        let Some(svg) = one(&chart, "svg") else {
            return;
        };
        let rect = svg.get_bounding_client_rect();
        if rect.width() <= 0.0 {
            return;
        }
        let x = (f64::from(ev.client_x()) - rect.left()) * WIDTH / rect.width();
        show(&chart, slot_at(x, slots(&chart)));
    }

    pub(super) fn left(ev: &web_sys::PointerEvent) {
        let Some(chart) = chart_of(ev.target()) else {
            return;
        };
        // Still inside the same chart (moving between its parts): keep it.
        if chart_of(ev.related_target()).is_some_and(|to| to == chart) {
            return;
        }
        let focused = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.active_element())
            .is_some_and(|a| a == chart);
        if !focused {
            hide(&chart);
        }
    }

    pub(super) fn key(ev: &web_sys::KeyboardEvent) {
        let Some(chart) = chart_of(ev.target()) else {
            return;
        };
        let n = slots(&chart);
        let at = chart
            .get_attribute("data-at")
            .and_then(|v| v.parse::<usize>().ok());
        let next = match (ev.key().as_str(), at) {
            ("ArrowLeft", Some(i)) => i.saturating_sub(1),
            ("ArrowRight", Some(i)) => i + 1,
            ("ArrowLeft" | "ArrowRight" | "End", _) => n.saturating_sub(1),
            ("Home", _) => 0,
            ("Escape", _) => {
                hide(&chart);
                return;
            }
            _ => return,
        };
        ev.prevent_default();
        show(&chart, next);
    }

    pub(super) fn blurred(ev: &web_sys::FocusEvent) {
        if let Some(chart) = chart_of(ev.target()) {
            hide(&chart);
        }
    }
}

#[cfg(test)]
mod tests {
    use kiln_shared::metrics::Line;

    use super::*;

    fn ident(i: usize) -> f64 {
        i as f64
    }

    #[test]
    fn gaps_split_the_path_and_a_lone_value_is_a_dot() {
        let values = [
            Some(1.0),
            Some(2.0),
            None,
            Some(3.0),
            None,
            None,
            Some(4.0),
            Some(5.0),
        ];
        let d = line_path(&values, ident, |v| v * 10.0);
        assert_eq!(d, "M0.0 10.0L1.0 20.0M3.0 30.0h0M6.0 40.0L7.0 50.0");
        assert_eq!(d.matches('M').count(), 3, "three runs, three subpaths");
        assert_eq!(line_path(&[None, None], ident, |v| v), "");
        assert_eq!(line_path(&[Some(f64::NAN)], ident, |v| v), "");
    }

    #[test]
    fn bands_close_per_run_and_skip_lone_slots() {
        let low = [Some(1.0), Some(1.0), None, Some(2.0), Some(0.0), Some(0.0)];
        let high = [
            Some(2.0),
            Some(3.0),
            Some(9.0),
            Some(2.0),
            Some(1.0),
            Some(1.0),
        ];
        let d = band_path(&low, &high, ident, |v| v);
        assert_eq!(d.matches('Z').count(), 2);
        assert!(d.starts_with("M0.0 2.0L1.0 3.0L1.0 1.0L0.0 1.0Z"), "{d}");
        assert!(
            !d.contains("9.0"),
            "the slot without a minimum is left out: {d}"
        );
    }

    #[test]
    fn y_ticks_are_round_and_in_one_unit() {
        let cpu = y_axis(Unit::Share, 0.37);
        let labels: Vec<&str> = cpu.ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["0", "10 %", "20 %", "30 %", "40 %"]);
        assert!((cpu.top - 0.4).abs() < 1e-9);

        let mem = y_axis(Unit::Bytes, 512.0 * 1024.0 * 1024.0);
        let labels: Vec<&str> = mem.ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["0", "200 MiB", "400 MiB", "600 MiB"]);
        assert!(mem.top >= 512.0 * 1024.0 * 1024.0);

        let gib = y_axis(Unit::Bytes, 2.0 * 1024.0 * 1024.0 * 1024.0);
        assert_eq!(gib.ticks[1].1, "0.5 GiB");
        assert_eq!(gib.ticks.last().map(|t| t.1.as_str()), Some("2 GiB"));

        let net = y_axis(Unit::BytesPerSec, 3000.0);
        assert_eq!(net.ticks[1].1, "1 KiB/s");

        let load = y_axis(Unit::Plain, 0.0);
        assert_eq!(load.top, 1.0, "an empty chart still has an axis");
        let labels: Vec<&str> = load.ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["0", "0.5", "1"]);

        for max in [0.001, 0.5, 0.99, 1.0] {
            let axis = y_axis(Unit::Share, max);
            assert!(
                axis.top >= max && axis.ticks.len() >= 2 && axis.ticks.len() <= 7,
                "{max}"
            );
        }
    }

    #[test]
    fn the_calendar_round_trips() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(20_793), (2026, 12, 6));
        assert_eq!(civil(-1), (1969, 12, 31));
        for days in [-800_000, 0, 11_016, 20_793, 60_000] {
            let (y, m, d) = civil(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(
            slot_time(Range::Day, 20_793 * 86_400 + 14 * 3600 + 5 * 60),
            "Dec 6 14:05 UTC"
        );
        assert_eq!(slot_time(Range::Year, 20_793 * 86_400), "Dec 6 2026");
    }

    /// 2026-12-06 14:07:00 UTC.
    const NOW: i64 = 20_793 * 86_400 + 14 * 3600 + 7 * 60;

    #[test]
    fn every_range_has_its_x_labels() {
        let labels = |r: Range| x_labels(r, r.start(NOW), r.step(), r.slots());
        for r in Range::ALL {
            let l = labels(r);
            assert!(l.len() >= 4 && l.len() <= 14, "{r:?}: {l:?}");
            assert!(l.iter().all(|(at, _)| (0.0..1.0).contains(at)), "{r:?}");
            assert!(l.windows(2).all(|w| w[0].0 < w[1].0), "{r:?} in order");
        }
        let hour = labels(Range::Hour);
        assert_eq!(hour.first().map(|l| l.1.as_str()), Some("13:10"));
        assert_eq!(hour.last().map(|l| l.1.as_str()), Some("14:00"));
        let day: Vec<String> = labels(Range::Day).into_iter().map(|l| l.1).collect();
        assert_eq!(
            day,
            [
                "15:00", "18:00", "21:00", "00:00", "03:00", "06:00", "09:00", "12:00"
            ]
        );
        let week: Vec<String> = labels(Range::Week).into_iter().map(|l| l.1).collect();
        assert_eq!(
            week,
            [
                "Nov 30", "Dec 1", "Dec 2", "Dec 3", "Dec 4", "Dec 5", "Dec 6"
            ]
        );
        let month = labels(Range::Month);
        assert_eq!(month.len(), 6);
        assert!(
            month
                .iter()
                .all(|(_, t)| t.starts_with("Nov") || t.starts_with("Dec"))
        );
        let year: Vec<String> = labels(Range::Year).into_iter().map(|l| l.1).collect();
        assert_eq!(
            year,
            [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
            ]
            .iter()
            .enumerate()
            .map(|(i, m)| if i == 0 {
                "2026".to_owned()
            } else {
                (*m).to_owned()
            })
            .collect::<Vec<_>>()
        );
    }

    #[test]
    fn slots_map_to_x_and_back() {
        for n in [1, 60, 360, 720] {
            for i in [0, n / 2, n - 1] {
                assert_eq!(slot_at(slot_x(i, n), n), i, "{i} of {n}");
            }
        }
        assert_eq!(slot_at(-50.0, 10), 0);
        assert_eq!(slot_at(WIDTH + 50.0, 10), 9);
    }

    fn series_with_gap() -> Series {
        let mut s = Series::empty(Range::Hour, NOW, &Field::GUEST);
        for line in &mut s.lines {
            for i in (0..100).chain(200..360) {
                let v = match line.field {
                    Field::Cpu => 0.25,
                    Field::MaxMem => 512.0 * 1024.0 * 1024.0,
                    _ => 1000.0,
                };
                line.avg[i] = Some(v);
                line.min[i] = Some(v * 0.5);
                line.max[i] = Some(v * 1.5);
            }
        }
        s
    }

    #[test]
    fn a_chart_draws_its_lines_with_the_gap_and_says_what_it_shows() {
        let s = series_with_gap();
        let cpu = draw(&s, &GUEST_CHARTS[0], "web-1");
        let line = cpu
            .svg
            .split("chart-line-0")
            .nth(1)
            .and_then(|rest| rest.split("d=\"").nth(1))
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_default();
        assert_eq!(
            line.matches('M').count(),
            2,
            "the gap splits the line: {line}"
        );
        assert!(cpu.svg.contains("role=\"img\""));
        assert!(cpu.svg.contains("<title>CPU of web-1 over 1 hour</title>"));
        assert!(cpu.svg.contains("chart-band-0"));
        assert_eq!(
            cpu.summary,
            "CPU of web-1 over 1 hour: latest 25 %, highest 37.5 %"
        );
        let cells: Vec<&str> = cpu.values.split(';').collect();
        assert_eq!(cells.len(), 360);
        assert_eq!(cells[0], "25 %");
        assert_eq!(cells[150], "", "a gap has no value");
        assert_eq!(cpu.labels, "CPU");

        let mem = draw(&s, &GUEST_CHARTS[1], "web-1");
        assert!(mem.svg.contains("chart-limit"));
        assert_eq!(mem.labels, "Used|Limit");
        assert_eq!(mem.values.split(';').next(), Some("1000 B|512 MiB"));
        assert!(mem.summary.ends_with("(limit 512 MiB)"), "{}", mem.summary);

        let net = draw(&s, &GUEST_CHARTS[3], "web-1");
        assert!(net.svg.contains("chart-line-0") && net.svg.contains("chart-line-1"));
        assert!(
            net.summary.contains("In latest 1000 B/s"),
            "{}",
            net.summary
        );
    }

    #[test]
    fn an_empty_series_draws_axes_and_says_so() {
        let s = Series::empty(Range::Week, NOW, &Field::GUEST);
        let d = draw(&s, &GUEST_CHARTS[0], "a<b");
        assert!(d.summary.ends_with("no data"));
        assert!(d.svg.contains("a&lt;b"), "names are escaped");
        assert!(!d.svg.contains("chart-band"));
        assert!(
            d.svg
                .contains("class=\"chart-line chart-line-0\" data-test=\"chart-line\" d=\"\"")
        );
        let missing = Series {
            lines: vec![Line {
                field: Field::Load,
                avg: vec![None; 3],
                min: vec![None; 3],
                max: vec![None; 3],
            }],
            ..s
        };
        assert!(
            draw(&missing, &GUEST_CHARTS[3], "x")
                .summary
                .contains("no data")
        );
    }

    #[test]
    fn the_figure_carries_what_the_hover_reads() {
        let s = series_with_gap();
        let html = Owner::new().with(|| {
            view! { <Chart series=s.clone() spec=GUEST_CHARTS[3] subject="web-1" /> }.to_html()
        });
        for part in [
            "data-test=\"chart-net\"",
            "data-chart=\"\"",
            "data-range=\"1h\"",
            &format!("data-from=\"{}\"", s.from),
            "data-step=\"10\"",
            "data-n=\"360\"",
            "data-labels=\"In|Out\"",
            "data-values=\"1000 B/s|1000 B/s;",
            "tabindex=\"0\"",
            "data-readout=\"\"",
            "aria-live=\"polite\"",
            "<svg class=\"chart-svg\"",
            "data-rule=\"\"",
            "chart-swatch chart-swatch-1",
        ] {
            assert!(html.contains(part), "{part} in {html}");
        }
        let picker = Owner::new().with(|| {
            view! { <RangePicker current=Range::Week href=|r: Range| format!("?range={}", r.as_str()) /> }
                .to_html()
        });
        assert_eq!(picker.matches("aria-current=\"page\"").count(), 1);
        assert!(picker.contains(
            "href=\"?range=7d\" data-test=\"range-7d\" title=\"7 days\" aria-current=\"page\""
        ));
    }

    #[test]
    fn a_sparkline_breaks_at_gaps() {
        let mut values = vec![Some(0.2f32); 60];
        values[10] = None;
        values[30] = None;
        let (svg, label) = sparkline_svg(&values);
        let d = svg.split("d=\"").nth(1).unwrap_or_default();
        assert_eq!(d.matches('M').count(), 3, "{d}");
        assert_eq!(label, "CPU over the last hour: latest 20 %, highest 20 %");
        let (svg, label) = sparkline_svg(&[None; 60]);
        assert!(svg.contains("d=\"\""));
        assert!(label.ends_with("no data"));
    }
}
