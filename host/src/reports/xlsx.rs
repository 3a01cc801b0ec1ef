//! XLSX with typed cells (dates as dates, times as date-times, minutes as numbers), a frozen header
//! row, column widths that fit, and a title block above the table.

use rust_xlsxwriter::{ExcelDateTime, Format, FormatAlign, Workbook};

use super::{Cell, ColumnKind, ReportError, Table};

/// Rows above the header: title, period, generated at/by.
const TITLE_ROWS: u32 = 3;

/// The table as an XLSX workbook with one sheet.
///
/// # Errors
/// [`ReportError::Xlsx`] when the writer fails (a bug or an out-of-range value).
pub fn to_xlsx(table: &Table) -> Result<Vec<u8>, ReportError> {
    write(table).map_err(|e| ReportError::Xlsx(e.to_string()))
}

fn write(table: &Table) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    let name: String = table.kind.title().chars().filter(|c| !"[]:*?/\\".contains(*c)).take(31).collect();
    sheet.set_name(name)?;
    let bold = Format::new().set_bold();
    let header = Format::new().set_bold().set_background_color("#F0F4F8").set_border_bottom(rust_xlsxwriter::FormatBorder::Thin);
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let datetime = Format::new().set_num_format("yyyy-mm-dd hh:mm");
    let hours = Format::new().set_num_format("0.00");
    let code = Format::new().set_align(FormatAlign::Center);

    let title = match &table.company {
        Some(company) => format!("{} · {}", table.title, company),
        None => table.title.clone(),
    };
    sheet.write_string_with_format(0, 0, &title, &bold)?;
    sheet.write_string(1, 0, format!("Period {} to {}", table.from, table.to))?;
    sheet.write_string(2, 0, format!("Generated {} by {}", table.generated_at.format("%Y-%m-%d %H:%M %:z"), table.generated_by))?;

    let header_row = TITLE_ROWS;
    let mut widths: Vec<usize> = table.columns.iter().map(|c| c.title.chars().count()).collect();
    for (col, column) in table.columns.iter().enumerate() {
        sheet.write_string_with_format(header_row, col_index(col), &column.title, &header)?;
    }
    let mut row_index = header_row + 1;
    for row in table.rows.iter().chain(table.totals.iter()) {
        for (col, cell) in row.iter().enumerate() {
            let c = col_index(col);
            match cell {
                Cell::Empty => {}
                Cell::Text(s) => {
                    sheet.write_string(row_index, c, s)?;
                }
                Cell::Code(s) => {
                    sheet.write_string_with_format(row_index, c, s, &code)?;
                }
                Cell::Date(d) => {
                    sheet.write_datetime_with_format(row_index, c, ExcelDateTime::parse_from_str(&d.format("%Y-%m-%d").to_string())?, &date)?;
                }
                Cell::DateTime(t) => {
                    // Excel has no zones: the local wall time is written (the offset is in the header note).
                    let wall = t.naive_local().format("%Y-%m-%dT%H:%M:%S").to_string();
                    sheet.write_datetime_with_format(row_index, c, ExcelDateTime::parse_from_str(&wall)?, &datetime)?;
                }
                Cell::Minutes(m) => {
                    sheet.write_number(row_index, c, *m as f64)?;
                }
                Cell::Integer(n) => {
                    sheet.write_number(row_index, c, *n as f64)?;
                }
                Cell::Hours(h) => {
                    sheet.write_number_with_format(row_index, c, *h, &hours)?;
                }
            }
            if let Some(w) = widths.get_mut(col) {
                let shown = match (cell, table.columns.get(col).map(|c| c.kind)) {
                    (Cell::DateTime(_), _) => 16,
                    (Cell::Date(_), _) => 10,
                    (_, Some(ColumnKind::Minutes | ColumnKind::Integer | ColumnKind::Hours)) => 8,
                    _ => cell.display().chars().count(),
                };
                *w = (*w).max(shown);
            }
        }
        row_index += 1;
    }
    for (col, width) in widths.iter().enumerate() {
        sheet.set_column_width(col_index(col), (*width).clamp(4, 60) as f64 + 2.0)?;
    }
    sheet.set_freeze_panes(header_row + 1, 0)?;
    workbook.save_to_buffer()
}

fn col_index(col: usize) -> u16 {
    u16::try_from(col).unwrap_or(u16::MAX)
}
