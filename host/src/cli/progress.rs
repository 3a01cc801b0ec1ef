//! Progress bars for long CLI work (polling many devices, processing a backfill, syncing a backlog).
//!
//! Drawn on stderr and only when stderr is a terminal: output piped into a script or a log stays
//! exactly the summary lines, and the bars cost nothing there.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar for `total` units of `what` ("devices", "employee-days", "deliveries").
pub(super) fn bar(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{prefix:>14} [{bar:32}] {human_pos}/{human_len} {per_sec} eta {eta} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(what.to_owned());
    bar
}
