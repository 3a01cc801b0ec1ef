//! CSV as Excel opens it: UTF-8 with a byte-order mark (names with accents stay readable), RFC 4180
//! quoting, CRLF line ends, and formula injection neutralised (a text cell starting with `=`, `+`,
//! `-`, `@`, a tab or a carriage return gets a leading `'`, so a spreadsheet shows it as text instead
//! of running it).

use super::{Cell, Table};

/// The table as CSV bytes: a header row, the rows, then the totals row if any.
pub fn to_csv(table: &Table) -> Vec<u8> {
    let mut out = String::from("\u{feff}");
    push_row(&mut out, table.columns.iter().map(|c| c.title.clone()));
    for row in &table.rows {
        push_row(&mut out, row.iter().map(cell_text));
    }
    if let Some(totals) = &table.totals {
        push_row(&mut out, totals.iter().map(cell_text));
    }
    out.into_bytes()
}

/// A cell as CSV text: numbers plain (minutes as a number, not `h:mm`, so Excel can sum them).
fn cell_text(cell: &Cell) -> String {
    match cell {
        Cell::Minutes(m) => m.to_string(),
        Cell::Text(s) | Cell::Code(s) => neutralise(s),
        other => other.display(),
    }
}

/// Prefixes text a spreadsheet would read as a formula.
pub fn neutralise(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}") } else { text.to_owned() }
}

fn push_row(out: &mut String, cells: impl Iterator<Item = String>) {
    let mut first = true;
    for cell in cells {
        if !first {
            out.push(',');
        }
        first = false;
        if cell.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&cell.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&cell);
        }
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::{Column, ColumnKind, ReportKind};

    fn table(rows: Vec<Vec<Cell>>) -> Table {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 30).expect("date");
        Table {
            kind: ReportKind::DailyAttendance,
            title: "Daily attendance".into(),
            from: day,
            to: day,
            columns: vec![Column::new("name", "Name", ColumnKind::Text), Column::new("worked", "Worked", ColumnKind::Minutes)],
            rows,
            totals: None,
            generated_at: chrono::Utc::now().fixed_offset(),
            generated_by: "test".into(),
            company: None,
        }
    }

    #[test]
    fn starts_with_a_bom_and_quotes_as_rfc_4180_says() {
        let csv = to_csv(&table(vec![vec![Cell::Text("Núñez, \"Ana\"".into()), Cell::Minutes(486)]]));
        let text = String::from_utf8(csv).expect("utf-8");
        assert_eq!(text, "\u{feff}Name,Worked\r\n\"Núñez, \"\"Ana\"\"\",486\r\n");
    }

    #[test]
    fn a_name_that_looks_like_a_formula_is_kept_as_text() {
        for evil in ["=HYPERLINK(\"x\")", "+1", "-2", "@SUM(A1)"] {
            let text = String::from_utf8(to_csv(&table(vec![vec![Cell::Text(evil.into()), Cell::Empty]]))).expect("utf-8");
            let line = text.lines().nth(1).expect("a data row");
            assert!(line.starts_with("\"'") || line.starts_with('\''), "{evil} is neutralised: {line}");
        }
    }
}
