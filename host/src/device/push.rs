//! The ADMS ("iclock") push protocol: the text formats terminals send and the commands they accept.
//!
//! In push mode the terminal is the HTTP client. It fetches its options (`GET /iclock/cdata?options=all`),
//! uploads tables as tab-separated lines (`POST /iclock/cdata?table=ATTLOG`), polls for commands
//! (`GET /iclock/getrequest`, answered with `C:<id>:<command>` lines) and reports their results
//! (`POST /iclock/devicecmd`, `ID=<id>&Return=<code>&CMD=<name>` lines). This module parses and
//! formats those messages; it knows nothing of HTTP or storage. Parsing never fails as a whole: each
//! bad line is reported with its number and the good lines are kept.

use std::fmt;

use chrono::{NaiveDate, NaiveDateTime};

use super::records::{decode_time, encode_time};

use crate::domain::{EmployeeId, WallTime};

/// One attendance line from an `ATTLOG` upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushPunch {
    /// 1-based line number in the body (to name the line if the punch is refused later).
    pub line: usize,
    /// The employee's number on the device (`PIN`).
    pub employee: EmployeeId,
    /// Device-local wall time, as written.
    pub time: WallTime,
    /// Punch state (0 in, 1 out, 2 break-out, 3 break-in, 4 OT-in, 5 OT-out).
    pub state: u8,
    /// Verification method (0 password, 1 fingerprint, 4 card, 15 face…).
    pub verify: u8,
}

/// A line that could not be used, with its 1-based number and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number in the body.
    pub line: usize,
    /// What was wrong.
    pub reason: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// How many line errors are kept (and shown) per upload; the rest are only counted. A hostile body
/// of millions of bad lines must not turn into millions of error strings.
pub const MAX_LINE_ERRORS: usize = 10;

/// How much of an offending field an error quotes.
pub const SHOWN_FIELD_CHARS: usize = 32;

/// The longest employee number accepted (what ZK firmware allows is 24 characters at most).
pub const MAX_PIN_CHARS: usize = 24;

/// The longest employee name kept; longer names from a device are cut.
pub const MAX_NAME_CHARS: usize = 100;

/// The line errors of one upload: the first [`MAX_LINE_ERRORS`] kept, all counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineErrors {
    /// The first errors, in line order.
    pub first: Vec<LineError>,
    /// How many lines were refused in all.
    pub total: usize,
}

impl LineErrors {
    /// Counts `error`, keeping it if it is among the first.
    pub fn push(&mut self, error: LineError) {
        self.total += 1;
        if self.first.len() < MAX_LINE_ERRORS {
            self.first.push(error);
        }
    }

    /// Whether no line was refused.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
}

impl fmt::Display for LineErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.first.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{error}")?;
        }
        let more = self.total - self.first.len();
        if more > 0 {
            write!(f, "; and {more} more")?;
        }
        Ok(())
    }
}

/// `field` quoted for an error message: at most [`SHOWN_FIELD_CHARS`] characters, escaped.
pub fn shown(field: &str) -> String {
    let mut chars = field.chars();
    let head: String = chars.by_ref().take(SHOWN_FIELD_CHARS).collect();
    if chars.next().is_some() { format!("{head:?}…") } else { format!("{head:?}") }
}

/// `text` cut to at most `max` characters (never inside a character).
pub fn truncate_chars(text: &str, max: usize) -> &str {
    text.char_indices().nth(max).map_or(text, |(at, _)| &text[..at])
}

/// `text` cut to at most `max` bytes, at a character boundary.
pub fn truncate_bytes(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let end = (0..=max).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    &text[..end]
}

/// `text` without control characters (NUL among them, which PostgreSQL text cannot hold, and line
/// breaks, which would forge lines wherever the text is shown).
pub fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).collect()
}

/// Whether `pin` is a usable employee number: 1 to [`MAX_PIN_CHARS`] ASCII letters and digits.
fn valid_pin(pin: &str) -> bool {
    !pin.is_empty() && pin.len() <= MAX_PIN_CHARS && pin.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Parses an `ATTLOG` body: `PIN \t YYYY-MM-DD HH:MM:SS \t state \t verify \t workcode …` per line.
pub fn parse_attlog(body: &str) -> (Vec<PushPunch>, LineErrors) {
    let mut punches = Vec::new();
    let mut errors = LineErrors::default();
    for (index, raw) in body.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        match parse_attlog_line(index + 1, line) {
            Ok(punch) => punches.push(punch),
            Err(reason) => errors.push(LineError { line: index + 1, reason }),
        }
    }
    (punches, errors)
}

/// One line; only the four fields used are looked at (a fixed split: the rest of the line, however
/// many fields it holds, is never collected).
fn parse_attlog_line(line_number: usize, line: &str) -> Result<PushPunch, String> {
    let mut fields = line.splitn(5, '\t').map(str::trim);
    let pin = fields.next().unwrap_or_default();
    if !valid_pin(pin) {
        return Err(format!("bad user id {}", shown(pin)));
    }
    let stamp = fields.next().ok_or("missing time")?;
    let time = NaiveDateTime::parse_from_str(stamp, "%Y-%m-%d %H:%M:%S")
        .map_err(|_| format!("bad time {} (expected YYYY-MM-DD HH:MM:SS)", shown(stamp)))?;
    let mut small = |what: &str| -> Result<u8, String> {
        match fields.next().filter(|f| !f.is_empty()) {
            None => Ok(0),
            Some(text) => text.parse::<u8>().map_err(|_| format!("bad {what} {}", shown(text))),
        }
    };
    let state = small("state")?;
    let verify = small("verify type")?;
    Ok(PushPunch { line: line_number, employee: EmployeeId(pin.to_owned()), time: WallTime(time), state, verify })
}

/// Parses user records from `USERINFO` (`PIN=1\tName=Ann…`) or `OPERLOG` (`USER PIN=1\tName=Ann…`)
/// bodies into `(user id, name)`; other OPERLOG lines (operations) are skipped, and so are records
/// whose PIN is not a usable employee number. Names are cut to [`MAX_NAME_CHARS`].
pub fn parse_users(body: &str) -> Vec<(EmployeeId, Option<String>)> {
    body.lines()
        .filter_map(|line| {
            let line = line.trim_end_matches('\r');
            let rest = line.strip_prefix("USER ").unwrap_or(line);
            let mut pin = None;
            let mut name = None;
            // The two fields used come first on every firmware seen; a few more are allowed for.
            for field in rest.split('\t').take(16) {
                match field.split_once('=') {
                    Some(("PIN", value)) => pin = Some(value.trim()),
                    Some(("Name", value)) => {
                        let value = printable(value);
                        name = Some(truncate_chars(value.trim(), MAX_NAME_CHARS).to_owned()).filter(|n| !n.is_empty());
                    }
                    _ => {}
                }
            }
            pin.filter(|pin| valid_pin(pin)).map(|pin| (EmployeeId(pin.to_owned()), name))
        })
        .collect()
}

/// A table stamp as terminals send it (`Stamp=…`): a number, which the bridge stores and repeats in
/// its options answer. Only digits are taken, so nothing a request carries can add a line there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp(String);

impl Stamp {
    /// The longest stamp accepted (a 64-bit number has at most 20 digits).
    pub const MAX_DIGITS: usize = 20;

    /// `text` as a stamp, if it is 1 to 20 ASCII digits.
    pub fn parse(text: &str) -> Option<Stamp> {
        (!text.is_empty() && text.len() <= Self::MAX_DIGITS && text.bytes().all(|b| b.is_ascii_digit())).then(|| Stamp(text.to_owned()))
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The outcome of one command, as reported on `/iclock/devicecmd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandResult {
    /// The id the bridge gave the command.
    pub id: i64,
    /// 0 = done; negative = failed (−1 unsupported, −1002 bad syntax, …).
    pub return_code: i32,
    /// The command's name as the device echoes it.
    pub command: String,
}

/// Parses `ID=<id>&Return=<code>&CMD=<name>` lines; lines without a usable id and code are skipped.
pub fn parse_command_results(body: &str) -> Vec<CommandResult> {
    body.lines()
        .filter_map(|line| {
            let mut id = None;
            let mut code = None;
            let mut command = String::new();
            for pair in line.trim_end_matches('\r').split('&') {
                match pair.split_once('=') {
                    Some(("ID", v)) => id = v.trim().parse().ok(),
                    Some(("Return", v)) => code = v.trim().parse().ok(),
                    Some(("CMD", v)) => command = v.trim().to_owned(),
                    _ => {}
                }
            }
            Some(CommandResult { id: id?, return_code: code?, command })
        })
        .collect()
}

/// A command the bridge can queue for a push terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushCommand {
    /// Set the device clock to this local wall time.
    SetTime(NaiveDateTime),
    /// Upload attendance again for a date range (inclusive).
    Resend {
        /// First day.
        from: NaiveDate,
        /// Last day.
        to: NaiveDate,
    },
    /// Restart the terminal.
    Reboot,
    /// Report device information.
    Info,
}

impl PushCommand {
    /// The command text after `C:<id>:`.
    pub fn to_line(&self) -> String {
        match self {
            PushCommand::SetTime(t) => format!("SET OPTION DateTime={}", encode_time(*t)),
            PushCommand::Resend { from, to } => format!(
                "DATA QUERY ATTLOG StartTime={} 00:00:00\tEndTime={} 23:59:59",
                from.format("%Y-%m-%d"),
                to.format("%Y-%m-%d")
            ),
            PushCommand::Reboot => "REBOOT".to_owned(),
            PushCommand::Info => "INFO".to_owned(),
        }
    }

    /// Reads a queued command line back (the push simulator executes them).
    pub fn parse(line: &str) -> Option<PushCommand> {
        if let Some(value) = line.strip_prefix("SET OPTION DateTime=") {
            return decode_time(value.trim().parse().ok()?).map(PushCommand::SetTime);
        }
        if let Some(rest) = line.strip_prefix("DATA QUERY ATTLOG ") {
            let mut from = None;
            let mut to = None;
            for field in rest.split('\t') {
                match field.split_once('=') {
                    Some(("StartTime", v)) => from = NaiveDate::parse_from_str(v.get(..10)?, "%Y-%m-%d").ok(),
                    Some(("EndTime", v)) => to = NaiveDate::parse_from_str(v.get(..10)?, "%Y-%m-%d").ok(),
                    _ => {}
                }
            }
            return Some(PushCommand::Resend { from: from?, to: to? });
        }
        match line.trim() {
            "REBOOT" => Some(PushCommand::Reboot),
            "INFO" => Some(PushCommand::Info),
            _ => None,
        }
    }
}

/// What the handshake tells a terminal: the last stamps stored per table (so it sends only what
/// the bridge lacks), how often to poll, real-time uploads on, and the site's UTC offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Last ATTLOG stamp stored, or `None` to ask for everything.
    pub attlog_stamp: Option<Stamp>,
    /// Last OPERLOG stamp stored.
    pub operlog_stamp: Option<Stamp>,
    /// Seconds between command polls.
    pub delay_s: u32,
    /// The site's UTC offset in minutes, at the time of the handshake.
    pub utc_offset_min: i32,
}

impl Options {
    /// The `text/plain` handshake answer for `serial`.
    pub fn render(&self, serial: &str) -> String {
        let mut lines = vec![
            format!("GET OPTION FROM: {serial}"),
            format!("ATTLOGStamp={}", self.attlog_stamp.as_ref().map_or("0", Stamp::as_str)),
            format!("OPERLOGStamp={}", self.operlog_stamp.as_ref().map_or("0", Stamp::as_str)),
            "ATTPHOTOStamp=0".to_owned(),
            "ErrorDelay=30".to_owned(),
            format!("Delay={}", self.delay_s),
            "TransTimes=00:00;14:05".to_owned(),
            "TransInterval=1".to_owned(),
            "TransFlag=TransData AttLog\tOpLog\tEnrollUser\tChgUser".to_owned(),
            "Realtime=1".to_owned(),
            "Encrypt=None".to_owned(),
        ];
        // Terminals read TimeZone as whole hours: a half-hour zone would be truncated and the clock
        // shifted, so it is omitted there and the clock is set with SET OPTION DateTime instead.
        if self.utc_offset_min % 60 == 0 {
            lines.push(format!("TimeZone={}", self.utc_offset_min / 60));
        }
        lines.join("\n") + "\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attlog_keeps_good_lines_and_names_bad_ones() {
        let body = "1001\t2025-06-02 08:57:12\t0\t1\t0\t0\t0\n\
                    1002\t2025-06-02 25:00:00\t0\t1\n\
                    \n\
                    1003\t2025-06-02 17:03:40\t1\t15\r\n\
                    bad id!\t2025-06-02 17:03:40\t1\t15\n";
        let (punches, errors) = parse_attlog(body);
        assert_eq!(punches.len(), 2);
        assert_eq!(punches[1].employee.0, "1003");
        assert_eq!((punches[1].state, punches[1].verify), (1, 15));
        assert_eq!(errors.first.iter().map(|e| e.line).collect::<Vec<_>>(), [2, 5]);
        assert!(errors.first[0].to_string().contains("bad time"));
    }

    #[test]
    fn users_from_userinfo_and_operlog() {
        let users = parse_users("PIN=1\tName=Ann\tPri=0\nUSER PIN=2\tName=Bob\nOPLOG 4\t0\t2025-06-02 08:00:00\nPIN=3\tName=\n");
        assert_eq!(
            users,
            [(EmployeeId("1".into()), Some("Ann".into())), (EmployeeId("2".into()), Some("Bob".into())), (EmployeeId("3".into()), None)]
        );
    }

    #[test]
    fn command_results() {
        let results = parse_command_results("ID=7&Return=0&CMD=DATA\nID=8&Return=-1002&CMD=REBOOT\ngarbage\n");
        assert_eq!(results.len(), 2);
        assert_eq!((results[1].id, results[1].return_code), (8, -1002));
    }

    #[test]
    fn commands_round_trip() {
        let at = NaiveDate::from_ymd_opt(2026, 2, 23).and_then(|d| d.and_hms_opt(16, 30, 5)).expect("time");
        let day = |d| NaiveDate::from_ymd_opt(2025, 6, d).expect("date");
        for command in [PushCommand::SetTime(at), PushCommand::Resend { from: day(1), to: day(3) }, PushCommand::Reboot, PushCommand::Info] {
            assert_eq!(PushCommand::parse(&command.to_line()), Some(command));
        }
        assert_eq!(decode_time(encode_time(at)), Some(at));
    }

    #[test]
    fn options_name_the_stamps_and_whole_hour_zones_only() {
        let options = Options { attlog_stamp: Stamp::parse("9999"), operlog_stamp: None, delay_s: 10, utc_offset_min: 180 };
        let text = options.render("SN1");
        assert!(text.starts_with("GET OPTION FROM: SN1\n"));
        assert!(text.contains("ATTLOGStamp=9999\n") && text.contains("OPERLOGStamp=0\n") && text.contains("TimeZone=3\n"));
        let india = Options { utc_offset_min: 330, ..options };
        assert!(!india.render("SN1").contains("TimeZone="));
    }

    #[test]
    fn errors_are_bounded_however_bad_the_body() {
        let long = "9".repeat(10_000);
        let body = format!("1001\t{long}\t0\t1\n").repeat(5_000);
        let (punches, errors) = parse_attlog(&body);
        assert!(punches.is_empty());
        assert_eq!((errors.first.len(), errors.total), (MAX_LINE_ERRORS, 5_000));
        let text = errors.to_string();
        assert!(text.len() < 1_500, "{} bytes", text.len());
        assert!(text.ends_with("and 4990 more"), "{text}");
    }

    #[test]
    fn stamps_are_digits_only() {
        assert_eq!(Stamp::parse("12345").map(|s| s.0), Some("12345".to_owned()));
        let too_long = "1".repeat(21);
        for bad in ["", "99999999999\nInjected=1", "12a", too_long.as_str(), " 1"] {
            assert_eq!(Stamp::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn user_records_need_a_valid_pin_and_names_are_cut() {
        let long = "x".repeat(500);
        let users = parse_users(&format!("PIN=1\tName={long}\nPIN=bad pin!\tName=Eve\nPIN=\tName=Nobody\nPIN=2\tName=A\u{0}n\u{1b}n\n"));
        assert_eq!(users.len(), 2);
        assert_eq!(users[0].1.as_deref().map(str::len), Some(MAX_NAME_CHARS));
        assert_eq!(users[1].1.as_deref(), Some("Ann"), "control characters are dropped");
    }
}
