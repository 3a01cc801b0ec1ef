//! The home page's charts, drawn on the server as inline SVG: no chart library or script in the
//! browser, they print, and each bar's tooltip is an SVG `<title>` (shown by the browser on hover).
//! Coordinates are whole units and classes one letter (styled in `static/dashboard.css`), so 30
//! days of bars stay a few kilobytes.

use std::fmt::Write as _;

use chrono::Datelike as _;

use crate::store::dashboard::DayCounts;

/// A drawing area: the SVG's `viewBox` size and the margins kept for the axes' labels.
#[derive(Clone, Copy)]
struct Frame {
    w: f64,
    h: f64,
}

const LEFT: f64 = 30.0;
const RIGHT: f64 = 6.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 26.0;

impl Frame {
    fn plot_w(self) -> f64 {
        self.w - LEFT - RIGHT
    }
    fn plot_h(self) -> f64 {
        self.h - TOP - BOTTOM
    }
    fn base(self) -> f64 {
        self.h - BOTTOM
    }
}

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

/// The opening tag, the accessible title and the horizontal grid with its labels.
fn open(f: Frame, id: &str, title: &str, top: i64, step: i64) -> String {
    let mut out = format!(
        r#"<svg viewBox="0 0 {w} {h}" width="100%" role="img" aria-labelledby="{id}-title" class="chart" id="{id}" xmlns="http://www.w3.org/2000/svg"><title id="{id}-title">{t}</title>"#,
        w = f.w,
        h = f.h,
        t = esc(title)
    );
    let mut v = 0;
    while v <= top {
        let y = f.base() - f.plot_h() * v as f64 / top as f64;
        let _ = write!(
            out,
            r#"<line x1="{LEFT}" x2="{x2:.0}" y1="{y:.0}" y2="{y:.0}" class="{c}"/><text x="{lx}" y="{ty:.0}" text-anchor="end">{v}</text>"#,
            x2 = f.w - RIGHT,
            c = if v == 0 { "g0" } else { "g" },
            lx = LEFT - 5.0,
            ty = y + 4.0,
        );
        v += step;
    }
    out
}

/// The 30-day attendance chart: one stacked bar per date (present, then absent), the chosen date
/// emphasised, weekday initials (weekends paler) and a date every week under the bars, and a
/// tooltip per date with every card figure.
pub fn trend(days: &[DayCounts], chosen: chrono::NaiveDate) -> String {
    let f = Frame { w: 720.0, h: 220.0 };
    let (top, step) = axis(days.iter().map(|d| d.present + d.absent).max().unwrap_or(0));
    let title = format!("Present and absent per day, last {} days", days.len());
    let mut out = open(f, "trend-chart", &title, top, step);
    let slot = f.plot_w() / days.len().max(1) as f64;
    let bar = (slot * 0.68).max(1.0);
    let scale = |n: i64| f.plot_h() * n as f64 / top as f64;
    for (i, day) in days.iter().enumerate() {
        let Some(date) = day.date else { continue };
        let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
        let chosen_day = date == chosen;
        let tip = format!(
            "{}: {} present, {} absent, {} late, {} early leave, {} missing punch-out, {} outliers",
            date.format("%a %Y-%m-%d"),
            day.present,
            day.absent,
            day.late,
            day.early_leave,
            day.missing_out,
            day.outliers
        );
        let (hp, ha) = (scale(day.present), scale(day.absent));
        // The group spans the plot's height (a transparent rect), so every date has its tooltip.
        let _ = write!(
            out,
            r#"<g><title>{}</title><rect x="{x:.0}" y="{TOP}" width="{bar:.0}" height="{ph:.0}" fill="transparent"/>"#,
            esc(&tip),
            ph = f.plot_h(),
        );
        if day.present > 0 {
            let _ = write!(
                out,
                r#"<rect x="{x:.0}" y="{y:.0}" width="{bar:.0}" height="{hp:.0}" class="{c}"/>"#,
                y = f.base() - hp,
                c = if chosen_day { "p c" } else { "p" },
            );
        }
        if day.absent > 0 {
            let _ = write!(out, r#"<rect x="{x:.0}" y="{y:.0}" width="{bar:.0}" height="{ha:.0}" class="a"/>"#, y = f.base() - hp - ha);
        }
        out.push_str("</g>");
        let weekend = matches!(date.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun);
        let class = if chosen_day { r#" class="s""# } else if weekend { r#" class="w""# } else { "" };
        let cx = x + bar / 2.0;
        let _ = write!(
            out,
            r#"<text x="{cx:.0}" y="{y:.0}" text-anchor="middle"{class}>{}</text>"#,
            &date.format("%a").to_string()[..1],
            y = f.base() + 12.0,
        );
        if i % 7 == (days.len() - 1) % 7 {
            let _ = write!(out, r#"<text x="{cx:.0}" y="{y:.0}" text-anchor="middle">{}</text>"#, date.format("%d %b"), y = f.base() + 23.0);
        }
    }
    out.push_str("</svg>");
    out
}

/// Arrivals by hour: one bar per hour of the display zone, from an hour before the first arrival (at
/// latest 06:00) to an hour after the last (at least 11:00), so a normal morning fills the chart.
pub fn arrivals(by_hour: &[i64; 24]) -> String {
    let f = Frame { w: 380.0, h: 240.0 };
    let first = by_hour.iter().position(|n| *n > 0).map_or(6, |h| h.saturating_sub(1).min(6));
    let last = by_hour.iter().rposition(|n| *n > 0).map_or(11, |h| (h + 1).clamp(11, 23));
    let hours: Vec<usize> = (first..=last).collect();
    let (top, step) = axis(by_hour.iter().copied().max().unwrap_or(0));
    let mut out = open(f, "arrivals-chart", "Arrivals by hour", top, step);
    let total: i64 = by_hour.iter().sum();
    let slot = f.plot_w() / hours.len().max(1) as f64;
    let bar = (slot * 0.72).max(1.0);
    let label_every = if hours.len() > 10 { 2 } else { 1 };
    for (i, hour) in hours.iter().enumerate() {
        let n = by_hour.get(*hour).copied().unwrap_or(0);
        let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
        let h = f.plot_h() * n as f64 / top as f64;
        let share = if total > 0 { format!(" ({:.0} %)", n as f64 * 100.0 / total as f64) } else { String::new() };
        let tip = format!("{hour:02}:00–{hour:02}:59: {n} arrival{}{share}", if n == 1 { "" } else { "s" });
        let cx = x + bar / 2.0;
        let _ = write!(
            out,
            r#"<g><title>{}</title><rect x="{x:.0}" y="{TOP}" width="{bar:.0}" height="{ph:.0}" fill="transparent"/>"#,
            esc(&tip),
            ph = f.plot_h(),
        );
        if n > 0 {
            let _ = write!(out, r#"<rect x="{x:.0}" y="{y:.0}" width="{bar:.0}" height="{h:.0}" class="h"/>"#, y = f.base() - h);
        }
        out.push_str("</g>");
        if n > 0 {
            let _ = write!(out, r#"<text x="{cx:.0}" y="{y:.0}" text-anchor="middle" class="v">{n}</text>"#, y = f.base() - h - 4.0);
        }
        if i % label_every == 0 {
            let _ = write!(out, r#"<text x="{cx:.0}" y="{y:.0}" text-anchor="middle">{hour:02}:00</text>"#, y = f.base() + 14.0);
        }
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
