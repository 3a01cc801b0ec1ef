//! What a CRM answer means for a delivery: delivered, retry later, or dead letter.

use std::time::Duration;

/// The decision for one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: acknowledged; the CRM's record id when its JSON answer had an `id`.
    Delivered { status: u16, crm_id: Option<String> },
    /// Transient (408, 409, 425, 429, 5xx, a redirect, timeout, connection error): try again, not before
    /// `retry_after` if given.
    Retry { status: Option<u16>, error: String, retry_after: Option<Duration> },
    /// Permanent (other 4xx, a replayed stored 5xx): keep the CRM's message, stop.
    Dead { status: Option<u16>, error: String },
}

/// Classifies an HTTP answer.
///
/// A 5xx flagged `Idempotent-Replayed: true` is the CRM replaying the stored failure of this key (as
/// Stripe does): retrying with the same key would get the same answer forever, so it is a dead letter.
/// 409 is the IETF idempotency draft's "the same key is still being processed": retry later. A 3xx is
/// never followed (the token must not travel to another host) and counts as a failed attempt, retried
/// in case the redirect was a passing misconfiguration, until the retry budget runs out.
pub fn classify(status: u16, replayed: bool, retry_after: Option<&str>, body: &str) -> Verdict {
    let message = || {
        let trimmed: String = body.chars().take(500).collect();
        format!("HTTP {status}: {trimmed}")
    };
    match status {
        200..=299 => Verdict::Delivered { status, crm_id: crm_id(body) },
        500..=599 if replayed => Verdict::Dead { status: Some(status), error: format!("replayed stored failure; {}", message()) },
        408 | 409 | 425 | 429 | 500..=599 => Verdict::Retry { status: Some(status), error: message(), retry_after: retry_after.and_then(parse_retry_after) },
        300..=399 => Verdict::Retry { status: Some(status), error: format!("redirect not followed (check CRM_API_URL); {}", message()), retry_after: None },
        _ => Verdict::Dead { status: Some(status), error: message() },
    }
}

/// The `id` of a JSON object answer, as text.
fn crm_id(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    match value.get("id")? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `Retry-After` in seconds (HTTP dates are rare from APIs and are ignored: the backoff applies then).
fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The wait before attempt `attempts + 1`: full jitter over `min(cap, base·2^attempts)`, or the CRM's
/// `Retry-After` clamped to `cap` when it gave one.
pub fn backoff(attempts: u32, base: Duration, cap: Duration, retry_after: Option<Duration>) -> Duration {
    if let Some(wait) = retry_after {
        return wait.min(cap);
    }
    let ceiling = base.saturating_mul(2u32.saturating_pow(attempts.min(30))).min(cap);
    let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::random_range(0..=millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert!(matches!(classify(201, false, None, r#"{"id":7}"#), Verdict::Delivered { crm_id: Some(ref i), .. } if i == "7"));
        assert!(matches!(classify(429, false, Some("3"), ""), Verdict::Retry { retry_after: Some(d), .. } if d == Duration::from_secs(3)));
        assert!(matches!(classify(503, false, None, ""), Verdict::Retry { .. }));
        assert!(matches!(classify(500, true, None, ""), Verdict::Dead { .. }));
        assert!(matches!(classify(400, false, None, "bad date"), Verdict::Dead { ref error, .. } if error.contains("bad date")));
        assert!(matches!(classify(302, false, None, ""), Verdict::Retry { ref error, .. } if error.contains("redirect not followed")));
        assert!(matches!(classify(409, false, None, ""), Verdict::Retry { .. }));
        assert!(matches!(classify(422, false, None, ""), Verdict::Dead { .. }));
        assert!(matches!(classify(401, false, None, ""), Verdict::Dead { .. }));
    }

    /// R14: every delay lies in [0, min(cap, base·2^n)], 10,000 samples per attempt, and the cap is reached.
    #[test]
    fn full_jitter_bounds() {
        let (base, cap) = (Duration::from_secs(30), Duration::from_secs(3600));
        let mut longest = Duration::ZERO;
        for attempt in 0..12u32 {
            let ceiling = (base * 2u32.pow(attempt)).min(cap);
            for _ in 0..10_000 {
                let wait = backoff(attempt, base, cap, None);
                assert!(wait <= ceiling, "attempt {attempt}: {wait:?} > {ceiling:?}");
                longest = longest.max(wait);
            }
        }
        assert!(longest <= cap && longest > cap * 9 / 10, "the longest sleep approaches the cap: {longest:?}");
    }

    #[test]
    fn backoff_is_capped() {
        for a in 0..40 {
            assert!(backoff(a, Duration::from_secs(1), Duration::from_secs(60), None) <= Duration::from_secs(60));
        }
        assert_eq!(backoff(0, Duration::from_secs(1), Duration::from_secs(60), Some(Duration::from_secs(600))), Duration::from_secs(60));
    }
}
