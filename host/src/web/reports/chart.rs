//! The employee history's chart: hours worked per day as an inline SVG bar chart drawn on the
//! server (no chart library in the browser; it prints as it shows). Bars are coloured by the day's
//! timesheet code; every text in it is a number or a date, never a name.

use std::fmt::Write as _;

use crate::reports::{Cell, Table};

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 36.0;
const BOTTOM: f64 = 28.0;
const TOP: f64 = 12.0;

fn colour(code: &str) -> &'static str {
    match code {
        "L" => "#d9822b",
        "A" => "#c23030",
        "M" => "#a66321",
        "HD" => "#7157d9",
        "H" | "O" => "#8a9ba8",
        _ => "#2680c2",
    }
}

/// The SVG for a history table (its `date`, `code` and `worked` columns).
pub(super) fn worked_hours(table: &Table) -> String {
    let find = |key: &str| table.columns.iter().position(|c| c.key == key);
    let (Some(date_col), Some(code_col), Some(worked_col)) = (find("date"), find("code"), find("worked")) else {
        return String::new();
    };
    // Rows are sorted as asked; the chart always runs by date.
    let mut days: Vec<(chrono::NaiveDate, String, f64)> = table
        .rows
        .iter()
        .filter_map(|row| {
            let Cell::Date(date) = row.get(date_col)? else { return None };
            let code = match row.get(code_col) {
                Some(Cell::Code(c)) => c.clone(),
                _ => String::new(),
            };
            let hours = match row.get(worked_col) {
                Some(Cell::Minutes(m)) => *m as f64 / 60.0,
                _ => 0.0,
            };
            Some((*date, code, hours))
        })
        .collect();
    days.sort_by_key(|d| d.0);
    if days.is_empty() {
        return String::new();
    }
    let max = days.iter().map(|d| d.2).fold(8.0_f64, f64::max).ceil();
    let plot_h = HEIGHT - TOP - BOTTOM;
    let step = (WIDTH - LEFT - 8.0) / days.len() as f64;
    let bar = (step * 0.7).max(1.0);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="Hours worked per day" xmlns="http://www.w3.org/2000/svg">"#
    );
    let mut h = 0.0;
    while h <= max {
        let y = TOP + plot_h - h / max * plot_h;
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#e4e7eb"/><text x="{}" y="{:.1}" font-size="10" text-anchor="end" fill="#627d98">{h}h</text>"##,
            WIDTH - 8.0,
            LEFT - 4.0,
            y + 3.0
        );
        h += if max > 12.0 { 4.0 } else { 2.0 };
    }
    let label_every = (days.len() / 16).max(1);
    for (i, (date, code, hours)) in days.iter().enumerate() {
        let x = LEFT + i as f64 * step + (step - bar) / 2.0;
        let height = hours / max * plot_h;
        let y = TOP + plot_h - height;
        let _ = write!(
            svg,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{height:.1}" rx="2" fill="{}"><title>{} · {hours:.2} h · {}</title></rect>"#,
            colour(code),
            date.format("%a %Y-%m-%d"),
            if code.is_empty() { "no record" } else { code }
        );
        if i % label_every == 0 {
            let _ = write!(
                svg,
                r##"<text x="{:.1}" y="{}" font-size="10" text-anchor="middle" fill="#627d98">{}</text>"##,
                x + bar / 2.0,
                HEIGHT - BOTTOM + 14.0,
                date.format("%d %b")
            );
        }
    }
    svg.push_str("</svg>");
    svg
}
