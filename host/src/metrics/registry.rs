//! A small in-process registry and its Prometheus text encoder.
//!
//! Why not the `prometheus-client` crate: the bridge needs a dozen families of counters, gauges and
//! histograms and a text encoder; writing them is ~200 lines with no new dependency, and lets the
//! families be plain `static`s the pipeline increments without threading a registry through every
//! constructor. The output follows the text exposition format 0.0.4 (checked in the tests by the
//! reference Python parser).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{LazyLock, Mutex, PoisonError};

/// Which kind of family, as written on its `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (reset by a restart).
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Observations counted in cumulative buckets, with their sum and count.
    Histogram,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One metric family: its name, help text, kind, label names and (histograms) bucket bounds.
#[derive(Debug)]
pub struct Family {
    /// The metric name (`bridge_…`).
    pub name: &'static str,
    /// One line saying what it counts.
    pub help: &'static str,
    /// Counter, gauge or histogram.
    pub kind: Kind,
    /// Label names, in the order values are passed.
    pub labels: &'static [&'static str],
    /// Upper bounds of a histogram's buckets, seconds (ignored for the others).
    pub buckets: &'static [f64],
}

/// Latency buckets (seconds) for HTTP requests and plugin calls: 1 ms to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Duration buckets (seconds) for job runs: 10 ms to 10 min.
pub const JOB_BUCKETS: &[f64] = &[0.01, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 180.0, 600.0];

#[derive(Debug, Clone)]
enum Series {
    Value(f64),
    Histogram { counts: Vec<u64>, sum: f64, count: u64 },
}

type Labels = Vec<String>;

/// Every sample recorded so far, by family name then label values.
static SAMPLES: LazyLock<Mutex<BTreeMap<&'static str, BTreeMap<Labels, Series>>>> = LazyLock::new(Mutex::default);

fn with_series(family: &'static Family, labels: &[&str], update: impl FnOnce(&mut Series)) {
    if labels.len() != family.labels.len() {
        tracing::warn!(metric = family.name, "metric updated with the wrong number of labels; ignored");
        return;
    }
    let mut samples = SAMPLES.lock().unwrap_or_else(PoisonError::into_inner);
    let series = samples.entry(family.name).or_default().entry(labels.iter().map(|l| (*l).to_owned()).collect()).or_insert_with(|| {
        match family.kind {
            Kind::Histogram => Series::Histogram { counts: vec![0; family.buckets.len()], sum: 0.0, count: 0 },
            Kind::Counter | Kind::Gauge => Series::Value(0.0),
        }
    });
    update(series);
}

impl Family {
    /// Adds `by` to a counter (or gauge).
    pub fn inc_by(&'static self, labels: &[&str], by: f64) {
        with_series(self, labels, |s| {
            if let Series::Value(v) = s {
                *v += by;
            }
        });
    }

    /// Adds one to a counter.
    pub fn inc(&'static self, labels: &[&str]) {
        self.inc_by(labels, 1.0);
    }

    /// Sets a gauge.
    pub fn set(&'static self, labels: &[&str], value: f64) {
        with_series(self, labels, |s| *s = Series::Value(value));
    }

    /// Records one observation in a histogram, seconds.
    pub fn observe(&'static self, labels: &[&str], seconds: f64) {
        let bounds = self.buckets;
        with_series(self, labels, |s| {
            if let Series::Histogram { counts, sum, count } = s {
                for (slot, bound) in counts.iter_mut().zip(bounds) {
                    if seconds <= *bound {
                        *slot += 1;
                    }
                }
                *sum += seconds;
                *count += 1;
            }
        });
    }
}

/// Escapes a label value (`\`, `"` and new lines).
fn escape(value: &str) -> String {
    value.replace('\\', r"\\").replace('"', "\\\"").replace('\n', r"\n")
}

fn label_text(names: &[&str], values: &[String], extra: Option<(&str, String)>) -> String {
    let mut pairs: Vec<String> = names.iter().zip(values).map(|(n, v)| format!("{n}=\"{}\"", escape(v))).collect();
    if let Some((n, v)) = extra {
        pairs.push(format!("{n}=\"{v}\""));
    }
    if pairs.is_empty() { String::new() } else { format!("{{{}}}", pairs.join(",")) }
}

fn number(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else if v.is_nan() {
        "NaN".into()
    } else {
        format!("{v}")
    }
}

/// Writes `families` with the samples recorded for them, in the text exposition format.
/// A label-less counter or gauge nobody touched yet shows 0, so dashboards see the series at once.
pub fn encode(families: &[&'static Family], out: &mut String) {
    let samples = SAMPLES.lock().unwrap_or_else(PoisonError::into_inner).clone();
    for family in families {
        let _ = writeln!(out, "# HELP {} {}", family.name, family.help);
        let _ = writeln!(out, "# TYPE {} {}", family.name, family.kind.word());
        let series = samples.get(family.name);
        if series.is_none_or(BTreeMap::is_empty) && family.labels.is_empty() && family.kind != Kind::Histogram {
            let _ = writeln!(out, "{} 0", family.name);
        }
        for (values, series) in series.into_iter().flatten() {
            match series {
                Series::Value(v) => {
                    let _ = writeln!(out, "{}{} {}", family.name, label_text(family.labels, values, None), number(*v));
                }
                Series::Histogram { counts, sum, count } => {
                    for (bound, n) in family.buckets.iter().zip(counts) {
                        let le = label_text(family.labels, values, Some(("le", number(*bound))));
                        let _ = writeln!(out, "{}_bucket{le} {n}", family.name);
                    }
                    let le = label_text(family.labels, values, Some(("le", "+Inf".into())));
                    let _ = writeln!(out, "{}_bucket{le} {count}", family.name);
                    let plain = label_text(family.labels, values, None);
                    let _ = writeln!(out, "{}_sum{plain} {}", family.name, number(*sum));
                    let _ = writeln!(out, "{}_count{plain} {count}", family.name);
                }
            }
        }
    }
}

/// Writes gauges computed at scrape time (read from storage), same format.
pub fn encode_gauge(name: &str, help: &str, labels: &[&str], rows: &[(Vec<String>, f64)], out: &mut String) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
    for (values, v) in rows {
        let _ = writeln!(out, "{name}{} {}", label_text(labels, values, None), number(*v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static TEST_HIST: Family = Family {
        name: "test_latency_seconds",
        help: "test",
        kind: Kind::Histogram,
        labels: &["route"],
        buckets: &[0.1, 1.0],
    };
    static TEST_COUNTER: Family = Family { name: "test_total", help: "test", kind: Kind::Counter, labels: &["who"], buckets: &[] };

    #[test]
    fn histogram_buckets_are_cumulative_and_labels_escaped() {
        TEST_HIST.observe(&["/a"], 0.05);
        TEST_HIST.observe(&["/a"], 0.5);
        TEST_HIST.observe(&["/a"], 5.0);
        TEST_COUNTER.inc(&["say \"hi\"\n"]);
        let mut out = String::new();
        encode(&[&TEST_HIST, &TEST_COUNTER], &mut out);
        assert!(out.contains("test_latency_seconds_bucket{route=\"/a\",le=\"0.1\"} 1\n"), "{out}");
        assert!(out.contains("test_latency_seconds_bucket{route=\"/a\",le=\"1\"} 2\n"), "{out}");
        assert!(out.contains("test_latency_seconds_bucket{route=\"/a\",le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("test_latency_seconds_count{route=\"/a\"} 3\n"), "{out}");
        assert!(out.contains(r#"test_total{who="say \"hi\"\n"} 1"#), "{out}");
    }
}
