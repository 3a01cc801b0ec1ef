//! The home page's charts, drawn on the server as inline SVG: no chart library or script in the
//! browser, they print, and each bar's tooltip is an SVG `<title>` (shown by the browser on hover).

use std::fmt::Write as _;

use chrono::Datelike as _;

use crate::store::dashboard::DayCounts;

/// Width and height of the drawing (the SVG scales to its box through `viewBox`).
const W: f64 = 720.0;
const H: f64 = 220.0;
/// Margins for the axes' labels.
const LEFT: f64 = 34.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 26.0;

/// Escapes text for SVG content and attributes.
fn esc(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// A "nice" top for the value axis (1, 2, 5 × 10ⁿ steps) and its step, so grid lines fall on round numbers.
fn axis(max: i64) -> (i64, i64) {
    let max = max.max(1);
    let raw = (max as f64 / 4.0).max(1.0);
    let magnitude = 10_f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(raw);
    let step = step.max(1.0) as i64;
    ((max + step - 1) / step * step, step)
}

/// Horizontal grid lines and their labels.
fn grid(out: &mut String, top: i64, step: i64) {
    let plot_h = H - TOP - BOTTOM;
    let mut v = 0;
    while v <= top {
        let y = TOP + plot_h - plot_h * v as f64 / top as f64;
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" x2="{x2}" y1="{y:.1}" y2="{y:.1}" stroke="{stroke}" stroke-width="1"/><text x="{lx}" y="{ty:.1}" text-anchor="end" class="axis">{v}</text>"##,
            x2 = W - RIGHT,
            stroke = if v == 0 { "#9fb3c8" } else { "#e4e7eb" },
            lx = LEFT - 6.0,
            ty = y + 4.0,
        );
        v += step;
    }
}

/// The 30-day attendance chart: one stacked bar per date (present, then absent), the chosen date
/// emphasised, weekday initials and dates under the bars, a tooltip per date with every card figure.
pub fn trend(days: &[DayCounts], chosen: chrono::NaiveDate) -> String {
    let top_value = days.iter().map(|d| d.present + d.absent).max().unwrap_or(0);
    let (top, step) = axis(top_value);
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let slot = plot_w / days.len().max(1) as f64;
    let bar = (slot * 0.68).max(1.0);
    let mut out = format!(
        r##"<svg viewBox="0 0 {W} {H}" width="100%" role="img" aria-labelledby="trend-title" class="chart" id="trend-chart" xmlns="http://www.w3.org/2000/svg"><title id="trend-title">Present and absent per day, last {n} days</title>"##,
        n = days.len()
    );
    grid(&mut out, top, step);
    for (i, day) in days.iter().enumerate() {
        let Some(date) = day.date else { continue };
        let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
        let h_present = plot_h * day.present as f64 / top as f64;
        let h_absent = plot_h * day.absent as f64 / top as f64;
        let base = TOP + plot_h;
        let is_chosen = date == chosen;
        let weekend = matches!(date.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun);
        let tip = format!(
            "{} {}: {} present, {} absent, {} late, {} early leave, {} missing punch-out, {} outliers",
            date.format("%a"),
            date.format("%Y-%m-%d"),
            day.present,
            day.absent,
            day.late,
            day.early_leave,
            day.missing_out,
            day.outliers
        );
        let _ = write!(out, r##"<g class="day{}"><title>{}</title>"##, if is_chosen { " chosen" } else { "" }, esc(&tip));
        // A transparent full-height target, so the tooltip shows over empty days too.
        let _ = write!(out, r##"<rect x="{x:.1}" y="{TOP}" width="{bar:.1}" height="{plot_h:.1}" fill="transparent"/>"##);
        let _ = write!(
            out,
            r##"<rect x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{h_present:.1}" rx="1.5" class="{}"/>"##,
            if is_chosen { "present chosen" } else { "present" },
            y = base - h_present,
        );
        if day.absent > 0 {
            let _ = write!(
                out,
                r##"<rect x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{h_absent:.1}" rx="1.5" class="absent"/>"##,
                y = base - h_present - h_absent,
            );
        }
        out.push_str("</g>");
        let cx = x + bar / 2.0;
        let _ = write!(
            out,
            r##"<text x="{cx:.1}" y="{y:.1}" text-anchor="middle" class="axis{}">{}</text>"##,
            if is_chosen { " strong" } else if weekend { " weekend" } else { "" },
            &date.format("%a").to_string()[..1],
            y = H - BOTTOM + 12.0,
        );
        if i % 7 == (days.len() - 1) % 7 {
            let _ = write!(
                out,
                r##"<text x="{cx:.1}" y="{y:.1}" text-anchor="middle" class="axis">{}</text>"##,
                date.format("%d %b"),
                y = H - BOTTOM + 23.0,
            );
        }
    }
    out.push_str("</svg>");
    out
}

/// Arrivals by hour: one bar per hour of the display zone, from an hour before the first arrival (at
/// latest 06:00) to an hour after the last (at least 11:00), so a normal morning fills the chart.
pub fn arrivals(by_hour: &[i64; 24]) -> String {
    let first = by_hour.iter().position(|n| *n > 0).map_or(6, |h| h.saturating_sub(1).min(6));
    let last = by_hour.iter().rposition(|n| *n > 0).map_or(11, |h| (h + 1).clamp(11, 23));
    let hours: Vec<usize> = (first..=last).collect();
    let (top, step) = axis(by_hour.iter().copied().max().unwrap_or(0));
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let slot = plot_w / hours.len().max(1) as f64;
    let bar = (slot * 0.72).max(1.0);
    let mut out = format!(
        r##"<svg viewBox="0 0 {W} {H}" width="100%" role="img" aria-labelledby="arrivals-title" class="chart" id="arrivals-chart" xmlns="http://www.w3.org/2000/svg"><title id="arrivals-title">Arrivals by hour</title>"##
    );
    grid(&mut out, top, step);
    let total: i64 = by_hour.iter().sum();
    for (i, hour) in hours.iter().enumerate() {
        let n = by_hour.get(*hour).copied().unwrap_or(0);
        let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
        let h = plot_h * n as f64 / top as f64;
        let share = if total > 0 { format!(" ({:.0} %)", n as f64 * 100.0 / total as f64) } else { String::new() };
        let tip = format!("{hour:02}:00–{hour:02}:59: {n} arrival{}{share}", if n == 1 { "" } else { "s" });
        let _ = write!(
            out,
            r##"<g class="hour"><title>{}</title><rect x="{x:.1}" y="{TOP}" width="{bar:.1}" height="{plot_h:.1}" fill="transparent"/><rect x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{h:.1}" rx="2" class="arrivals"/></g>"##,
            esc(&tip),
            y = TOP + plot_h - h,
        );
        if n > 0 {
            let _ = write!(out, r##"<text x="{cx:.1}" y="{y:.1}" text-anchor="middle" class="value">{n}</text>"##, cx = x + bar / 2.0, y = TOP + plot_h - h - 4.0);
        }
        let _ = write!(
            out,
            r##"<text x="{cx:.1}" y="{y:.1}" text-anchor="middle" class="axis">{hour:02}:00</text>"##,
            cx = x + bar / 2.0,
            y = H - BOTTOM + 14.0,
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_tops_are_round() {
        assert_eq!(axis(0), (1, 1));
        assert_eq!(axis(7), (8, 2));
        assert_eq!(axis(42), (60, 20));
        assert_eq!(axis(1000), (1000, 500));
    }

    #[test]
    fn tooltips_are_escaped_and_every_hour_has_one() {
        let mut hours = [0; 24];
        hours[8] = 3;
        let svg = arrivals(&hours);
        assert!(svg.contains("<title>08:00–08:59: 3 arrivals (100 %)</title>"), "{svg}");
        assert!(svg.contains("06:00") && svg.contains("11:00"));
        assert_eq!(esc("<script>&"), "&lt;script&gt;&amp;");
    }
}
