//! Where configuration values come from, and the names they carry there.
//!
//! The bridge replaces a Django deployment whose sites keep a `.env` file with flat, upper-case keys
//! (`CRM_API_URL`, `WORK_START_TIME`, ...). Those names are accepted unchanged, from the process
//! environment and from `.env`, and mapped onto the nested keys of `bridge.toml` by [`ENV_KEYS`].
//! The same table turns a nested key back into the variable name when an error must name it.

use std::path::{Path, PathBuf};

use figment::value::{Dict, Map, Value};
use figment::{Metadata, Profile, Provider};

/// Flat variable name → dotted key in the configuration tree.
///
/// When two names map to one key (`DJANGO_SECRET_KEY` and `SECRET_KEY`), the first one listed wins.
pub const ENV_KEYS: &[(&str, &str)] = &[
    ("DJANGO_SECRET_KEY", "secret_key"),
    ("SECRET_KEY", "secret_key"),
    ("DEBUG", "debug"),
    ("ALLOWED_HOSTS", "allowed_hosts"),
    ("TIME_ZONE", "time_zone"),
    ("DISPLAY_TIMEZONE", "display_time_zone"),
    ("DATABASE_URL", "database_url"),
    ("DATABASE_POOL_SIZE", "database_pool_size"),
    ("BRIDGE_LISTEN", "listen"),
    ("BRIDGE_ROLE", "role"),
    ("BRIDGE_DATA_DIR", "data_dir"),
    ("LOG_FORMAT", "log_format"),
    ("COMPANY_NAME", "company_name"),
    ("ZKTECO_DEFAULT_PORT", "devices.default_port"),
    ("POLLING_INTERVAL_MINUTES", "devices.polling_interval_minutes"),
    ("RAW_PUNCH_RETENTION_DAYS", "devices.raw_punch_retention_days"),
    ("CLOCK_CORRECTION_SECONDS", "devices.clock_correction_seconds"),
    ("PUNCH_MIN_DATE", "devices.punch_min_date"),
    ("PUNCH_MAX_FUTURE_HOURS", "devices.punch_max_future_hours"),
    ("WORK_START_TIME", "shift.work_start_time"),
    ("WORK_END_TIME", "shift.work_end_time"),
    ("OVERNIGHT_SHIFT", "shift.overnight_shift"),
    ("OVERNIGHT_SHIFT_BUFFER_HOURS", "shift.overnight_shift_buffer_hours"),
    ("CRM_API_URL", "crm.api_url"),
    ("CRM_API_TOKEN", "crm.api_token"),
    ("CRM_MAX_RETRIES", "crm.max_retries"),
    ("CRM_SYNC_BATCH_SIZE", "crm.sync_batch_size"),
    ("CRM_RETRY_BASE_SECONDS", "crm.retry_base_seconds"),
    ("CRM_RETRY_MAX_SECONDS", "crm.retry_max_seconds"),
    ("CRM_AUTH_SCHEME", "crm.auth_scheme"),
    ("CRM_TIMEOUT_SECONDS", "crm.timeout_seconds"),
    ("CRM_CONCURRENCY", "crm.concurrency"),
    ("CRM_BATCH_REQUESTS", "crm.batch_requests"),
    ("CRM_SIGNING_SECRET", "crm.signing_secret"),
    ("CRM_CA_FILE", "crm.ca_file"),
    ("OUTLIER_EMAIL_NOTIFICATIONS", "email.outlier_notifications"),
    ("OUTLIER_EMAIL_RECIPIENTS", "email.outlier_recipients"),
    ("EMAIL_BACKEND", "email.backend"),
    ("EMAIL_HOST", "email.host"),
    ("EMAIL_PORT", "email.port"),
    ("EMAIL_USE_TLS", "email.use_tls"),
    ("EMAIL_HOST_USER", "email.host_user"),
    ("EMAIL_HOST_PASSWORD", "email.host_password"),
    ("DEFAULT_FROM_EMAIL", "email.default_from"),
    ("EMAIL_FILE_PATH", "email.file_path"),
    ("PUSH_UNKNOWN_DEVICES", "push.unknown_devices"),
    ("PUSH_ALLOWED_NETWORKS", "push.allowed_networks"),
    ("PUSH_MAX_BODY_BYTES", "push.max_body_bytes"),
    ("PUSH_POLL_DELAY_SECONDS", "push.poll_delay_seconds"),
    ("PUSH_LISTEN", "push.listen"),
    ("PUSH_MAX_PENDING_DEVICES", "push.max_pending_devices"),
    ("HTTP_HEADER_TIMEOUT_SECONDS", "http.header_timeout_seconds"),
    ("HTTP_BODY_TIMEOUT_SECONDS", "http.body_timeout_seconds"),
    ("HTTP_MAX_CONNECTIONS", "http.max_connections"),
    ("TRUSTED_PROXIES", "web.trusted_proxies"),
    ("SESSION_COOKIE_SECURE", "web.session_cookie_secure"),
    ("SESSION_IDLE_MINUTES", "web.session_idle_minutes"),
    ("SESSION_ABSOLUTE_HOURS", "web.session_absolute_hours"),
    ("LOGIN_MAX_FAILURES", "web.login_max_failures"),
    ("LOGIN_WINDOW_MINUTES", "web.login_window_minutes"),
    ("PLUGINS_DIR", "plugins.dir"),
    ("RULES_PLUGIN", "plugins.rules"),
    ("CRM_PLUGIN", "plugins.crm"),
    ("PLUGIN_TIME_LIMIT_MS", "plugins.time_limit_ms"),
    ("PLUGIN_RUN_BUDGET_SECONDS", "plugins.run_budget_seconds"),
    ("PLUGIN_FUEL", "plugins.fuel"),
    ("PLUGIN_MEMORY_MB", "plugins.memory_mb"),
    ("METRICS_TOKEN", "metrics.token"),
    ("ALERT_EMAILS", "alerts.enabled"),
    ("ALERT_EMAIL_RECIPIENTS", "alerts.recipients"),
    ("ALERT_CHECK_SECONDS", "alerts.check_seconds"),
    ("ALERT_DEVICE_SILENT_INTERVALS", "alerts.device_silent_intervals"),
    ("ALERT_PLUGIN_FAILED_RUNS", "alerts.plugin_failed_runs"),
    ("ALERT_CRM_UNREACHABLE_MINUTES", "alerts.crm_unreachable_minutes"),
    ("REPORT_EMAIL_HOUR", "reports.email_hour"),
    ("CELERY_BROKER_URL", "celery_broker_url"),
];

/// Keys whose values are secrets: an error about them never repeats the value.
pub const SECRET_KEYS: &[&str] = &["secret_key", "crm.api_token", "crm.signing_secret", "email.host_password", "database_url", "metrics.token"];

/// The flat variable names that feed `key`, in precedence order.
pub fn env_names_for(key: &str) -> Vec<&'static str> {
    ENV_KEYS.iter().filter(|(_, k)| *k == key).map(|(name, _)| *name).collect()
}

/// A set of flat variables (from the process environment or a `.env` file) seen as a figment provider.
///
/// Values stay strings; [`figment::Figment::extract_lossy`] turns `"15"` or `"True"` into numbers and
/// booleans only where the target type asks for one, so a CRM token of `12345` stays a string.
#[derive(Debug, Clone)]
pub struct FlatVars {
    vars: Vec<(String, String)>,
    metadata_name: String,
    file: Option<PathBuf>,
}

impl FlatVars {
    /// The bridge's variables in the process environment.
    pub fn from_process_env() -> Self {
        Self::from_pairs(std::env::vars(), "environment variable", None)
    }

    /// The variables of a `.env` file, when it exists.
    ///
    /// # Errors
    /// A line that is not `KEY=value` (with optional quotes and comments) is reported with its line number.
    pub fn from_dotenv(path: &Path) -> Result<Option<Self>, String> {
        if !path.exists() {
            return Ok(None);
        }
        let iter = dotenvy::from_path_iter(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut pairs = Vec::new();
        for item in iter {
            pairs.push(item.map_err(|e| format!("{}: {e}", path.display()))?);
        }
        Ok(Some(Self::from_pairs(pairs, ".env file", Some(path.to_path_buf()))))
    }

    /// Builds a provider from explicit pairs (tests use this instead of mutating the process environment).
    pub fn from_pairs(
        pairs: impl IntoIterator<Item = (String, String)>,
        metadata_name: &str,
        file: Option<PathBuf>,
    ) -> Self {
        let vars = pairs
            .into_iter()
            .filter(|(name, _)| ENV_KEYS.iter().any(|(known, _)| known == name))
            .collect();
        Self { vars, metadata_name: metadata_name.to_owned(), file }
    }

    /// The names present, for notices such as "CELERY_BROKER_URL is ignored".
    pub fn contains(&self, name: &str) -> bool {
        self.vars.iter().any(|(n, _)| n == name)
    }
}

impl Provider for FlatVars {
    fn metadata(&self) -> Metadata {
        let meta = Metadata::named(self.metadata_name.clone());
        match &self.file {
            Some(path) => meta.source(figment::Source::File(path.clone())),
            None => meta,
        }
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut root = Dict::new();
        for (name, key) in ENV_KEYS {
            let Some((_, value)) = self.vars.iter().find(|(n, _)| n == name) else { continue };
            insert_dotted(&mut root, key, Value::from(value.clone()));
        }
        Ok(Profile::Default.collect(root))
    }
}

/// Inserts `value` at a dotted `key`, keeping what an earlier (higher-precedence) name already put there.
fn insert_dotted(root: &mut Dict, key: &str, value: Value) {
    let mut parts = key.split('.').peekable();
    let mut dict = root;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            dict.entry(part.to_owned()).or_insert(value);
            return;
        }
        let entry = dict.entry(part.to_owned()).or_insert_with(|| Value::from(Dict::new()));
        match entry {
            Value::Dict(_, inner) => dict = inner,
            _ => return,
        }
    }
}
