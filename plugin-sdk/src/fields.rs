//! The field and variant lists that every interface version and both sides of the sandbox share,
//! written once (plumbing for the conversions: the SDK's glue and `v2::text`, and the host's
//! `plugins::convert*`, which calls these macros too).
//!
//! Why macros: the records exist as several Rust types (the text model, the typed model, and
//! bindgen's records of each interface version on each side), and the conversions between them
//! used to spell every field out, about ten times for a shift template. What differs between two
//! versions (a time as text or as seconds, a code or a position) is still written at each
//! conversion; what is the same field with the same `Copy` type everywhere is listed here.

/// Builds a record from a source whose fields of the same name are copied as they are; the fields
/// that change shape are given in braces:
///
/// ```ignore
/// __shared_fields!(template: wit::Template { code: t.code, start_min: …, … } from t)
/// ```
///
/// Groups: `template` (a shift template's rule parameters, all `u32`), `record` (an attendance
/// day's figures), `v1_record` (`record` plus what interface 1 keeps as text, moved out of the
/// source; `final_` / `is_final` still go in braces, as the two sides name it differently).
#[doc(hidden)]
#[macro_export]
macro_rules! __shared_fields {
    (template: $($target:ident)::+ { $($other:tt)* } from $source:expr) => {
        $crate::__shared_fields!(@build $($target)::+ { $($other)* } from $source;
            early_in_window_min, late_out_window_min, late_in_outlier_min, early_out_outlier_min, late_grace_min,
            early_grace_min, dedup_window_s, min_span_min, overtime_min_min, absent_below_min, half_day_below_min,
            settle_min)
    };
    (record: $($target:ident)::+ { $($other:tt)* } from $source:expr) => {
        $crate::__shared_fields!(@build $($target)::+ { $($other)* } from $source;
            worked_min, break_min, payable_min, scheduled_min, overtime_min, late_min, early_min, duplicates)
    };
    (v1_record: $($target:ident)::+ { $($other:tt)* } from $source:expr) => {
        $crate::__shared_fields!(record: $($target)::+ {
            date: $source.date, shift: $source.shift, status: $source.status, clock_in: $source.clock_in,
            clock_out: $source.clock_out, flags: $source.flags, reason: $source.reason, $($other)*
        } from $source)
    };
    (@build $($target:ident)::+ { $($other:tt)* } from $source:expr; $($field:ident),* $(,)?) => {
        $($target)::+ { $($field: $source.$field,)* $($other)* }
    };
}

/// Maps an enum value to the enum of the same variants in another model (typed model, WIT
/// records of either side, chrono):
///
/// ```ignore
/// __same_variants!(status: r.status, typed::Status => wit::Status)
/// ```
///
/// Groups: `status`, `review_reason`, `rounding_mode`, `weekday`.
#[doc(hidden)]
#[macro_export]
macro_rules! __same_variants {
    (status: $value:expr, $($from:ident)::+ => $($to:ident)::+) => {
        $crate::__same_variants!(@map $value, $($from)::+ => $($to)::+; Present, Absent, Incomplete, HalfDay, OffDayWork, UnscheduledWork)
    };
    (review_reason: $value:expr, $($from:ident)::+ => $($to:ident)::+) => {
        $crate::__same_variants!(@map $value, $($from)::+ => $($to)::+; InvalidTimestamp, FutureTimestamp)
    };
    (rounding_mode: $value:expr, $($from:ident)::+ => $($to:ident)::+) => {
        $crate::__same_variants!(@map $value, $($from)::+ => $($to)::+; NearestHalfUp, Up, Down)
    };
    (weekday: $value:expr, $($from:ident)::+ => $($to:ident)::+) => {
        $crate::__same_variants!(@map $value, $($from)::+ => $($to)::+; Mon, Tue, Wed, Thu, Fri, Sat, Sun)
    };
    (@map $value:expr, $($from:ident)::+ => $($to:ident)::+; $($variant:ident),*) => {{
        use $($from)::+ as __Source;
        use $($to)::+ as __Target;
        match $value {
            $(__Source::$variant => __Target::$variant,)*
        }
    }};
}
