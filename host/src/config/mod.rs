//! Configuration: one typed [`Config`] read from layered sources.
//!
//! Lowest to highest precedence: the defaults written here, a TOML file (`bridge.toml` in the working
//! directory, or the path given with `--config`), a `.env` file in the working directory, and the process
//! environment. The flat upper-case names of the original Django `.env` (see [`sources::ENV_KEYS`]) are
//! accepted unchanged, so a site can keep its file.
//!
//! Every value is validated while it is read ([`values`]) and once more across keys ([`Config::validate`]);
//! a problem becomes a [`ConfigError`] whose one-line message names the key, the value (never for a
//! secret) and the source. Secrets are [`SecretString`]s, so `Debug` output of a `Config` is safe to log.

mod error;
pub mod sources;
pub mod values;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Toml};
use secrecy::SecretString;
use serde::Deserialize;

pub use error::ConfigError;
use sources::FlatVars;
pub use values::{CommaList, DatabaseUrl, EmailBackend, HttpUrl, Networks, TimeZone, WallClock, redact_url};

/// Everything the bridge can be told, with the defaults a fresh install runs on.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Signs session cookies (`DJANGO_SECRET_KEY` or `SECRET_KEY`). Generated per process when unset,
    /// which logs everyone out on restart.
    pub secret_key: Option<SecretString>,
    /// More detailed logs and error pages (`DEBUG`).
    pub debug: bool,
    /// Host names the web server answers to (`ALLOWED_HOSTS`, comma-separated); empty means any.
    pub allowed_hosts: CommaList,
    /// The site's IANA time zone (`TIME_ZONE`): device wall times without their own zone are read in it.
    pub time_zone: TimeZone,
    /// The zone pages and reports show times in (`DISPLAY_TIMEZONE`, as the Django bridge had it);
    /// unset means `time_zone`. See [`Config::display_zone`].
    pub display_time_zone: Option<TimeZone>,
    /// `postgres://…` for PostgreSQL; unset means the SQLite file `<data_dir>/bridge.db` (`DATABASE_URL`).
    pub database_url: Option<DatabaseUrl>,
    /// Most connections held open to the database (`DATABASE_POOL_SIZE`).
    pub database_pool_size: u32,
    /// Address the web server and API listen on (`BRIDGE_LISTEN`); `serve --listen` overrides it.
    pub listen: SocketAddr,
    /// What `serve` runs (`BRIDGE_ROLE`): `all`, `web` (HTTP only) or `worker` (jobs only);
    /// `serve --role` overrides it. Split roles let operators run the dashboard and the device work
    /// on different machines against one PostgreSQL.
    pub role: Role,
    /// Folder for the SQLite file, the compiled-plugin cache and other local state (`BRIDGE_DATA_DIR`).
    pub data_dir: PathBuf,
    /// `text` for people, `json` for log collectors (`LOG_FORMAT`).
    pub log_format: LogFormat,
    /// The organisation's name on every page and printed report (`COMPANY_NAME`); unset shows none.
    pub company_name: Option<String>,
    /// Device defaults.
    pub devices: DeviceSettings,
    /// The built-in default shift (the original single-shift settings).
    pub shift: ShiftSettings,
    /// Where processed attendance goes.
    pub crm: CrmSettings,
    /// Outlier e-mail alerts.
    pub email: EmailSettings,
    /// Terminals that push over HTTP (ADMS / iclock).
    pub push: PushSettings,
    /// Limits of every HTTP listener.
    pub http: HttpSettings,
    /// Sign-in, sessions and the proxies trusted to name the client.
    pub web: WebSettings,
    /// WebAssembly plugins (shift rules, CRM mapping).
    pub plugins: PluginSettings,
    /// Who may read `/metrics`.
    pub metrics: MetricsSettings,
    /// Operational alert e-mails (devices silent, deliveries failed, plugins failing, CRM down).
    pub alerts: AlertSettings,
    /// Scheduled report e-mails.
    pub reports: ReportEmailSettings,
    /// Accepted so an old `.env` keeps working, and ignored: scheduling is built in (`CELERY_BROKER_URL`).
    pub celery_broker_url: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            secret_key: None,
            debug: false,
            allowed_hosts: CommaList::default(),
            time_zone: TimeZone(chrono_tz::UTC),
            display_time_zone: None,
            database_url: None,
            database_pool_size: 8,
            listen: SocketAddr::from(([127, 0, 0, 1], 8000)),
            role: Role::All,
            data_dir: PathBuf::from("data"),
            log_format: LogFormat::Text,
            company_name: None,
            devices: DeviceSettings::default(),
            shift: ShiftSettings::default(),
            crm: CrmSettings::default(),
            email: EmailSettings::default(),
            push: PushSettings::default(),
            http: HttpSettings::default(),
            web: WebSettings::default(),
            plugins: PluginSettings::default(),
            metrics: MetricsSettings::default(),
            alerts: AlertSettings::default(),
            reports: ReportEmailSettings::default(),
            celery_broker_url: None,
        }
    }
}

/// Which parts of the bridge a `serve` process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// HTTP and background jobs.
    All,
    /// HTTP only: dashboard, API, push endpoints.
    Web,
    /// Background jobs only (the HTTP listener answers the health probes).
    Worker,
}

impl Role {
    /// Whether this process serves the dashboard and API.
    pub fn runs_web(self) -> bool {
        matches!(self, Role::All | Role::Web)
    }

    /// Whether this process runs scheduled jobs.
    pub fn runs_jobs(self) -> bool {
        matches!(self, Role::All | Role::Worker)
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Defaults for the time clocks.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeviceSettings {
    /// Port used when a device does not name one (`ZKTECO_DEFAULT_PORT`).
    pub default_port: u16,
    /// Minutes between two downloads from each device (`POLLING_INTERVAL_MINUTES`).
    pub polling_interval_minutes: u32,
    /// Raw punches older than this many days are deleted by `daily_cleanup`, but only once every day
    /// of their employee up to then is processed and acknowledged by the CRM; 0 keeps them forever
    /// (`RAW_PUNCH_RETENTION_DAYS`).
    pub raw_punch_retention_days: u32,
    /// When a poll finds a device clock off by more than this many seconds, set it (0: never, the
    /// default; `devices set-time` does it by hand) (`CLOCK_CORRECTION_SECONDS`).
    pub clock_correction_seconds: u32,
    /// Punches dated before this day are refused on every path, as a reset or corrupt clock's
    /// (`PUNCH_MIN_DATE`, `YYYY-MM-DD`).
    pub punch_min_date: chrono::NaiveDate,
    /// Punches more than this many hours ahead of the current time in the device's zone are refused
    /// (`PUNCH_MAX_FUTURE_HOURS`).
    pub punch_max_future_hours: u32,
}

impl Default for DeviceSettings {
    fn default() -> Self {
        let window = crate::domain::PunchWindow::default();
        Self {
            default_port: 4370,
            polling_interval_minutes: 15,
            raw_punch_retention_days: 365,
            clock_correction_seconds: 0,
            punch_min_date: window.earliest,
            punch_max_future_hours: u32::try_from(window.max_ahead.num_hours()).unwrap_or(24),
        }
    }
}

impl DeviceSettings {
    /// The accepted span of punch times.
    pub fn punch_window(&self) -> crate::domain::PunchWindow {
        crate::domain::PunchWindow {
            earliest: self.punch_min_date,
            max_ahead: chrono::TimeDelta::hours(i64::from(self.punch_max_future_hours)),
        }
    }
}

/// The original single-shift settings; they define the built-in default shift template.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShiftSettings {
    /// Shift start, local wall time (`WORK_START_TIME`).
    pub work_start_time: WallClock,
    /// Shift end, local wall time (`WORK_END_TIME`); before the start for a night shift.
    pub work_end_time: WallClock,
    /// Whether the default shift crosses midnight (`OVERNIGHT_SHIFT`).
    pub overnight_shift: bool,
    /// Hours after the end a clock-out still belongs to the night shift (`OVERNIGHT_SHIFT_BUFFER_HOURS`).
    pub overnight_shift_buffer_hours: u32,
}

impl Default for ShiftSettings {
    fn default() -> Self {
        let at = |h| WallClock(chrono::NaiveTime::from_hms_opt(h, 0, 0).unwrap_or_default());
        Self { work_start_time: at(8), work_end_time: at(17), overnight_shift: false, overnight_shift_buffer_hours: 4 }
    }
}

/// The remote CRM/HR endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CrmSettings {
    /// Endpoint receiving one POST per processed day (`CRM_API_URL`); unset disables sync.
    pub api_url: Option<HttpUrl>,
    /// Sent as `Authorization: Token …` (`CRM_API_TOKEN`).
    pub api_token: Option<SecretString>,
    /// Attempts before a delivery is marked failed (`CRM_MAX_RETRIES`).
    pub max_retries: u32,
    /// Most deliveries sent per sync run (`CRM_SYNC_BATCH_SIZE`).
    pub sync_batch_size: u32,
    /// First retry waits up to this long; each retry doubles it, with full jitter (`CRM_RETRY_BASE_SECONDS`).
    pub retry_base_seconds: u32,
    /// Longest wait between retries; also clamps a CRM's `Retry-After` (`CRM_RETRY_MAX_SECONDS`).
    pub retry_max_seconds: u32,
    /// `Token` (Django REST framework, the original bridge) or `Bearer` (`CRM_AUTH_SCHEME`).
    pub auth_scheme: CrmAuthScheme,
    /// Per-request timeout; a timed-out delivery is retried with the same key (`CRM_TIMEOUT_SECONDS`).
    pub timeout_seconds: u32,
    /// Requests in flight at once over kept-alive connections (`CRM_CONCURRENCY`).
    pub concurrency: u32,
    /// Send days as JSON arrays, one request per batch, when the CRM supports it (`CRM_BATCH_REQUESTS`).
    pub batch_requests: bool,
    /// Standard Webhooks `whsec_…` secret; when set, requests are signed (`CRM_SIGNING_SECRET`).
    pub signing_secret: Option<SecretString>,
    /// A PEM file of extra CA certificates to trust for the CRM (an internal CA); the system's roots
    /// stay trusted and verification is never switched off (`CRM_CA_FILE`).
    pub ca_file: Option<PathBuf>,
}

impl Default for CrmSettings {
    fn default() -> Self {
        Self {
            api_url: None,
            api_token: None,
            max_retries: 5,
            sync_batch_size: 100,
            retry_base_seconds: 30,
            retry_max_seconds: 3600,
            auth_scheme: CrmAuthScheme::Token,
            timeout_seconds: 30,
            concurrency: 8,
            batch_requests: false,
            signing_secret: None,
            ca_file: None,
        }
    }
}

/// The word in front of the CRM token in `Authorization`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum CrmAuthScheme {
    /// `Token <t>`: what the original bridge sent.
    #[default]
    #[serde(alias = "token", alias = "TOKEN")]
    Token,
    /// `Bearer <t>`: OAuth-style APIs.
    #[serde(alias = "bearer", alias = "BEARER")]
    Bearer,
}

impl CrmAuthScheme {
    /// The `Authorization` header value for `token` under this scheme.
    pub fn header_value(self, token: &str) -> String {
        match self {
            CrmAuthScheme::Token => format!("Token {token}"),
            CrmAuthScheme::Bearer => format!("Bearer {token}"),
        }
    }
}

/// Outlier alerts by e-mail.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailSettings {
    /// Send an e-mail when processing finds outliers (`OUTLIER_EMAIL_NOTIFICATIONS`).
    pub outlier_notifications: bool,
    /// Who receives them (`OUTLIER_EMAIL_RECIPIENTS`, comma-separated).
    pub outlier_recipients: CommaList,
    /// `smtp`, `console`, `file` or `disabled`; Django's dotted class names are accepted (`EMAIL_BACKEND`).
    pub backend: EmailBackend,
    /// SMTP server (`EMAIL_HOST`).
    pub host: String,
    /// SMTP port (`EMAIL_PORT`).
    pub port: u16,
    /// STARTTLS (`EMAIL_USE_TLS`).
    pub use_tls: bool,
    /// SMTP login (`EMAIL_HOST_USER`).
    pub host_user: Option<String>,
    /// SMTP password (`EMAIL_HOST_PASSWORD`).
    pub host_password: Option<SecretString>,
    /// Sender address (`DEFAULT_FROM_EMAIL`).
    pub default_from: String,
    /// Folder for the `file` backend's `.eml` files [default: `<data_dir>/mail`] (`EMAIL_FILE_PATH`).
    pub file_path: Option<PathBuf>,
}

impl Default for EmailSettings {
    fn default() -> Self {
        Self {
            outlier_notifications: false,
            outlier_recipients: CommaList::default(),
            backend: EmailBackend::Smtp,
            host: "localhost".into(),
            port: 25,
            use_tls: false,
            host_user: None,
            host_password: None,
            default_from: "attendance-bridge@localhost".into(),
            file_path: None,
        }
    }
}

/// Limits every HTTP listener (the main one and `PUSH_LISTEN`) runs under, so slow, idle or
/// numerous clients cannot hold the server.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Seconds a client has to send a request's head (`HTTP_HEADER_TIMEOUT_SECONDS`); also how long
    /// an idle kept-alive connection stays open.
    pub header_timeout_seconds: u32,
    /// Seconds a client has to send a request's body, from its head (`HTTP_BODY_TIMEOUT_SECONDS`).
    pub body_timeout_seconds: u32,
    /// Connections served at once on each listener; more wait to be accepted (`HTTP_MAX_CONNECTIONS`).
    pub max_connections: u32,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self { header_timeout_seconds: 15, body_timeout_seconds: 60, max_connections: 256 }
    }
}

/// Sign-in and sessions of the dashboard and API.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebSettings {
    /// Reverse proxies whose `X-Forwarded-For` names the client, as IPs or CIDRs (`TRUSTED_PROXIES`);
    /// empty (the default) trusts none, so a client cannot pick the address it is rate-limited under.
    pub trusted_proxies: Networks,
    /// Mark the session cookie `Secure` and give it the `__Host-` prefix (`SESSION_COOKIE_SECURE`);
    /// turn on whenever the dashboard is reached over HTTPS (a browser then never sends it in clear).
    pub session_cookie_secure: bool,
    /// A session unused this long ends (`SESSION_IDLE_MINUTES`; default 8 hours, a working day).
    pub session_idle_minutes: u32,
    /// A session ends this long after sign-in however busy (`SESSION_ABSOLUTE_HOURS`; default 7 days).
    pub session_absolute_hours: u32,
    /// Failed sign-ins allowed per client address and per account within the window
    /// (`LOGIN_MAX_FAILURES`); the next attempt answers 429 until the oldest failure ages out.
    pub login_max_failures: u32,
    /// The window failed sign-ins are counted over, minutes (`LOGIN_WINDOW_MINUTES`).
    pub login_window_minutes: u32,
}

impl Default for WebSettings {
    fn default() -> Self {
        Self {
            trusted_proxies: Networks::default(),
            session_cookie_secure: false,
            session_idle_minutes: 8 * 60,
            session_absolute_hours: 7 * 24,
            login_max_failures: 10,
            login_window_minutes: 15,
        }
    }
}

/// Access to `/metrics`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// Bearer token a scraper on another machine presents (`METRICS_TOKEN`). Requests from this
    /// machine (loopback, not forwarded by a proxy) need none; without a token, other clients get 403.
    pub token: Option<SecretString>,
}

/// Scheduled report e-mails (`attendance-bridge reports subscribe`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportEmailSettings {
    /// Site-local hour from which the day's report e-mails go out (`REPORT_EMAIL_HOUR`, 0-23): the
    /// daily attendance of yesterday, on the 1st last month's timesheet, on Mondays last week's
    /// late arrivals and early exits.
    pub email_hour: u32,
}

impl Default for ReportEmailSettings {
    fn default() -> Self {
        Self { email_hour: 6 }
    }
}

/// Operational alerts by e-mail: one message when a problem starts and one when it ends.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertSettings {
    /// Send alert e-mails at all (`ALERT_EMAILS`).
    pub enabled: bool,
    /// Who receives them (`ALERT_EMAIL_RECIPIENTS`, comma-separated); empty means the outlier recipients.
    pub recipients: CommaList,
    /// How often the conditions are checked, seconds (`ALERT_CHECK_SECONDS`).
    pub check_seconds: u32,
    /// A device is silent after this many polling intervals without a successful download
    /// (`ALERT_DEVICE_SILENT_INTERVALS`).
    pub device_silent_intervals: u32,
    /// A plugin is failing after this many failed runs in a row of the job calling it
    /// (`ALERT_PLUGIN_FAILED_RUNS`).
    pub plugin_failed_runs: u32,
    /// The CRM is unreachable after this many minutes without a successful delivery while deliveries
    /// are waiting and the last attempts failed (`ALERT_CRM_UNREACHABLE_MINUTES`).
    pub crm_unreachable_minutes: u32,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            recipients: CommaList::default(),
            check_seconds: 60,
            device_silent_intervals: 3,
            plugin_failed_runs: 3,
            crm_unreachable_minutes: 30,
        }
    }
}

/// What happens to a push terminal whose serial number the bridge does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownDevices {
    /// Register it unapproved: its data is kept but not processed until an admin approves it.
    Pending,
    /// Refuse it (403) and keep nothing.
    Reject,
}

/// Push (ADMS / iclock) terminals.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushSettings {
    /// Unknown serial numbers: `pending` or `reject` (`PUSH_UNKNOWN_DEVICES`).
    pub unknown_devices: UnknownDevices,
    /// Source networks allowed on `/iclock/…`, comma-separated CIDRs; empty = any (`PUSH_ALLOWED_NETWORKS`).
    pub allowed_networks: Networks,
    /// Largest upload accepted, bytes (`PUSH_MAX_BODY_BYTES`).
    pub max_body_bytes: u32,
    /// Seconds terminals wait between command polls (`PUSH_POLL_DELAY_SECONDS`).
    pub poll_delay_seconds: u32,
    /// An extra listener serving only `/iclock/…`, to expose to devices alone (`PUSH_LISTEN`).
    pub listen: Option<SocketAddr>,
    /// Most self-registered terminals awaiting approval; beyond it unknown serials are refused
    /// (`PUSH_MAX_PENDING_DEVICES`).
    pub max_pending_devices: u32,
}

impl Default for PushSettings {
    fn default() -> Self {
        Self {
            unknown_devices: UnknownDevices::Pending,
            allowed_networks: Networks::default(),
            max_body_bytes: 4 << 20,
            poll_delay_seconds: 10,
            listen: None,
            max_pending_devices: 50,
        }
    }
}

/// WebAssembly plugins.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PluginSettings {
    /// Folder of `*.wasm` plugins [default: `<data_dir>/plugins`] (`PLUGINS_DIR`).
    pub dir: Option<PathBuf>,
    /// The shift-rules plugin processing uses (`RULES_PLUGIN`).
    pub rules: String,
    /// The crm-mapping plugin building CRM payloads (`CRM_PLUGIN`).
    pub crm: String,
    /// Wall-clock time one plugin call may run, milliseconds (`PLUGIN_TIME_LIMIT_MS`); an endless
    /// loop is stopped when it runs out.
    pub time_limit_ms: u64,
    /// How long one processing run may spend in the shift-rules plugin, seconds
    /// (`PLUGIN_RUN_BUDGET_SECONDS`); once spent, the rest stays pending for the next run. A plugin
    /// that hits its per-call time limit is not called again in that run either.
    pub run_budget_seconds: u64,
    /// Replaced by `time_limit_ms` (fuel metering cost a quarter of plugin throughput). Still
    /// accepted so configurations written for earlier versions load; ignored, with a notice.
    pub fuel: Option<u64>,
    /// Memory cap per plugin instance, MiB (`PLUGIN_MEMORY_MB`).
    pub memory_mb: u64,
    /// Per-plugin configuration, by plugin name (TOML tables under `[plugins.config.<name>]`).
    pub config: std::collections::BTreeMap<String, serde_json::Value>,
}

impl Default for PluginSettings {
    fn default() -> Self {
        Self {
            dir: None,
            rules: "standard-shifts".into(),
            crm: "crm-json".into(),
            time_limit_ms: 2_000,
            run_budget_seconds: 600,
            fuel: None,
            memory_mb: 64,
            config: std::collections::BTreeMap::new(),
        }
    }
}

/// Where to look for configuration; [`ConfigSources::standard`] is what the binary uses.
#[derive(Debug, Clone)]
pub struct ConfigSources {
    /// A TOML file; it must exist when `required` is set (given with `--config`).
    pub toml: Option<(PathBuf, bool)>,
    /// A `.env` file, read when it exists.
    pub dotenv: Option<PathBuf>,
    /// The environment (tests pass an explicit set instead of the process's).
    pub env: FlatVars,
}

impl ConfigSources {
    /// `--config PATH` (required) or `./bridge.toml` (optional), `./.env`, and the process environment.
    /// Paths are made absolute so messages say exactly which file was read.
    pub fn standard(config_path: Option<&Path>) -> Self {
        let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let toml = match config_path {
            Some(path) => (absolute(path), true),
            None => (absolute(Path::new("bridge.toml")), false),
        };
        Self { toml: Some(toml), dotenv: Some(absolute(Path::new(".env"))), env: FlatVars::from_process_env() }
    }
}

/// A valid configuration plus the notices worth logging once logging is up.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// One-line notices (ignored keys, insecure-but-allowed choices).
    pub notices: Vec<String>,
}

impl Config {
    /// Reads and validates the configuration from `sources`.
    ///
    /// # Errors
    /// The first problem found, as a one-line [`ConfigError`].
    pub fn load(sources: &ConfigSources) -> Result<Loaded, ConfigError> {
        let mut figment = Figment::new();
        if let Some((path, required)) = &sources.toml {
            if path.exists() {
                figment = figment.merge(Toml::file_exact(path));
            } else if *required {
                return Err(ConfigError::MissingFile(path.clone()));
            }
        }
        let mut dotenv_has_celery = false;
        if let Some(path) = &sources.dotenv {
            if let Some(vars) = FlatVars::from_dotenv(path).map_err(ConfigError::DotEnv)? {
                dotenv_has_celery = vars.contains("CELERY_BROKER_URL");
                figment = figment.merge(vars);
            }
        }
        figment = figment.merge(sources.env.clone());

        let config: Config = figment.extract_lossy().map_err(|e| ConfigError::from_figment(&figment, e))?;
        config.validate(&figment)?;

        let mut notices = Vec::new();
        if config.celery_broker_url.is_some() || dotenv_has_celery {
            notices.push("CELERY_BROKER_URL is ignored: scheduling is built into the bridge".to_owned());
        }
        if config.plugins.fuel.is_some() {
            notices.push(format!(
                "plugins.fuel (PLUGIN_FUEL) is ignored: plugin calls are limited by time, plugins.time_limit_ms (PLUGIN_TIME_LIMIT_MS) = {} ms",
                config.plugins.time_limit_ms
            ));
        }
        if config.crm.api_url.as_ref().is_some_and(HttpUrl::is_plain_http) {
            notices.push("CRM_API_URL uses plain http://: attendance data travels unencrypted".to_owned());
        }
        Ok(Loaded { config, notices })
    }

    /// Checks that span several keys or need more than a type can say.
    fn validate(&self, figment: &Figment) -> Result<(), ConfigError> {
        let invalid = |key: &str, value: String, problem: &str| {
            Err(ConfigError::invalid(figment, key, Some(value), problem.to_owned()))
        };
        if self.devices.polling_interval_minutes == 0 {
            return invalid("devices.polling_interval_minutes", "0".into(), "must be at least 1 minute");
        }
        if self.devices.default_port == 0 {
            return invalid("devices.default_port", "0".into(), "must be a TCP port from 1 to 65535");
        }
        let earliest = self.devices.punch_min_date;
        if !(1970..=2100).contains(&chrono::Datelike::year(&earliest)) {
            return invalid("devices.punch_min_date", earliest.to_string(), "must be a date from 1970 to 2100");
        }
        if self.devices.punch_max_future_hours > 24 * 366 {
            return invalid("devices.punch_max_future_hours", self.devices.punch_max_future_hours.to_string(), "must be at most 8784 (a year)");
        }
        if self.database_pool_size == 0 {
            return invalid("database_pool_size", "0".into(), "must be at least 1");
        }
        if self.plugins.memory_mb == 0 || self.plugins.memory_mb > 4096 {
            return invalid("plugins.memory_mb", self.plugins.memory_mb.to_string(), "must be 1 to 4096");
        }
        if !(10..=3_600_000).contains(&self.plugins.time_limit_ms) {
            return invalid("plugins.time_limit_ms", self.plugins.time_limit_ms.to_string(), "must be 10 to 3600000 (one hour)");
        }
        if !(1..=86_400).contains(&self.plugins.run_budget_seconds) {
            return invalid("plugins.run_budget_seconds", self.plugins.run_budget_seconds.to_string(), "must be 1 to 86400 (one day)");
        }
        if self.push.max_body_bytes < 1024 {
            return invalid("push.max_body_bytes", self.push.max_body_bytes.to_string(), "must be at least 1024");
        }
        if self.push.poll_delay_seconds == 0 {
            return invalid("push.poll_delay_seconds", "0".into(), "must be at least 1 second");
        }
        let web = &self.web;
        for (key, value, max) in [
            ("web.session_idle_minutes", web.session_idle_minutes, 525_600),
            ("web.session_absolute_hours", web.session_absolute_hours, 8_784),
            ("web.login_max_failures", web.login_max_failures, 10_000),
            ("web.login_window_minutes", web.login_window_minutes, 10_080),
        ] {
            if !(1..=max).contains(&value) {
                return invalid(key, value.to_string(), &format!("must be 1 to {max}"));
            }
        }
        if self.crm.sync_batch_size == 0 {
            return invalid("crm.sync_batch_size", "0".into(), "must be at least 1");
        }
        if self.crm.concurrency == 0 {
            return invalid("crm.concurrency", "0".into(), "must be at least 1");
        }
        if self.crm.timeout_seconds == 0 {
            return invalid("crm.timeout_seconds", "0".into(), "must be at least 1");
        }
        let shift = &self.shift;
        if shift.work_start_time == shift.work_end_time {
            let value = format!("{:?}", shift.work_end_time.0);
            return invalid("shift.work_end_time", value, "must differ from WORK_START_TIME");
        }
        if shift.work_end_time < shift.work_start_time && !shift.overnight_shift {
            let value = shift.work_end_time.0.format("%H:%M").to_string();
            return invalid("shift.work_end_time", value, "is before WORK_START_TIME; set OVERNIGHT_SHIFT=True for a night shift");
        }
        if shift.overnight_shift_buffer_hours > 12 {
            let value = shift.overnight_shift_buffer_hours.to_string();
            return invalid("shift.overnight_shift_buffer_hours", value, "must be at most 12 hours");
        }
        for address in &self.email.outlier_recipients.0 {
            if address.parse::<lettre::Address>().is_err() {
                return invalid("email.outlier_recipients", address.clone(), "is not an e-mail address");
            }
        }
        if self.email.default_from.parse::<lettre::message::Mailbox>().is_err() {
            return invalid("email.default_from", self.email.default_from.clone(), "is not an e-mail address");
        }
        Ok(())
    }

    /// The plugins folder: `PLUGINS_DIR`, or `plugins` in the data folder.
    pub fn plugins_dir(&self) -> PathBuf {
        self.plugins.dir.clone().unwrap_or_else(|| self.data_dir.join("plugins"))
    }

    /// The zone pages and reports show times in: `DISPLAY_TIMEZONE`, else the site zone.
    pub fn display_zone(&self) -> chrono_tz::Tz {
        self.display_time_zone.as_ref().map_or(self.time_zone.0, |z| z.0)
    }

    /// The database to use: `DATABASE_URL`, or the SQLite file in the data folder.
    pub fn database(&self) -> DatabaseUrl {
        self.database_url.clone().unwrap_or_else(|| DatabaseUrl::Sqlite(self.data_dir.join("bridge.db")))
    }
}

#[cfg(test)]
mod tests;
