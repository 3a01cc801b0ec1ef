//! Each way a configuration can be wrong, and the one line it produces.

use std::path::PathBuf;

use secrecy::ExposeSecret;

use super::sources::FlatVars;
use super::*;

struct Case {
    toml: Option<&'static str>,
    dotenv: Option<&'static str>,
    env: &'static [(&'static str, &'static str)],
}

impl Case {
    fn env(env: &'static [(&'static str, &'static str)]) -> Self {
        Case { toml: None, dotenv: None, env }
    }

    fn load(&self) -> Result<Loaded, ConfigError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let toml_path = dir.path().join("bridge.toml");
        let env_path = dir.path().join(".env");
        if let Some(text) = self.toml {
            std::fs::write(&toml_path, text).expect("write toml");
        }
        if let Some(text) = self.dotenv {
            std::fs::write(&env_path, text).expect("write .env");
        }
        let env = self.env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        Config::load(&ConfigSources {
            toml: Some((toml_path, false)),
            dotenv: Some(env_path),
            env: FlatVars::from_pairs(env, "environment variable", None),
        })
    }

    fn error(&self) -> String {
        match self.load() {
            Ok(_) => panic!("expected a configuration error"),
            Err(e) => e.to_string(),
        }
    }
}

#[test]
fn defaults_are_valid() {
    let loaded = Case::env(&[]).load().expect("defaults load");
    assert_eq!(loaded.config.devices.polling_interval_minutes, 15);
    assert_eq!(loaded.config.database(), DatabaseUrl::Sqlite(PathBuf::from("data/bridge.db")));
}

#[test]
fn original_env_file_is_accepted_unchanged() {
    let dotenv = "DJANGO_SECRET_KEY=django-insecure-abc\nDEBUG=True\nALLOWED_HOSTS=localhost,127.0.0.1\n\
        TIME_ZONE=Africa/Nairobi\nZKTECO_DEFAULT_PORT=4370\nPOLLING_INTERVAL_MINUTES=10\n\
        WORK_START_TIME=08:00\nWORK_END_TIME=17:00\nOVERNIGHT_SHIFT=False\nOVERNIGHT_SHIFT_BUFFER_HOURS=4\n\
        CRM_API_URL=https://crm.example.com/api/attendance/\nCRM_API_TOKEN=12345\nCRM_MAX_RETRIES=3\n\
        CRM_SYNC_BATCH_SIZE=50\nOUTLIER_EMAIL_NOTIFICATIONS=True\nOUTLIER_EMAIL_RECIPIENTS=hr@example.com,boss@example.com\n\
        EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend\nEMAIL_HOST=smtp.example.com\nEMAIL_PORT=587\n\
        EMAIL_USE_TLS=True\nEMAIL_HOST_USER=bridge\nEMAIL_HOST_PASSWORD=s3cret\nDEFAULT_FROM_EMAIL=bridge@example.com\n\
        CELERY_BROKER_URL=redis://localhost:6379/0\n";
    let loaded = Case { toml: None, dotenv: Some(dotenv), env: &[] }.load().expect("original .env loads");
    let c = &loaded.config;
    assert!(c.debug);
    assert_eq!(c.allowed_hosts.0, ["localhost", "127.0.0.1"]);
    assert_eq!(c.time_zone.0, chrono_tz::Africa::Nairobi);
    assert_eq!(c.devices.polling_interval_minutes, 10);
    assert_eq!(c.crm.api_token.as_ref().map(|t| t.expose_secret().to_owned()).as_deref(), Some("12345"));
    assert_eq!(c.crm.sync_batch_size, 50);
    assert_eq!(c.email.outlier_recipients.0.len(), 2);
    assert_eq!(c.email.backend, EmailBackend::Smtp);
    assert!(loaded.notices.iter().any(|n| n.contains("CELERY_BROKER_URL is ignored")));
}

#[test]
fn environment_beats_dotenv_beats_toml() {
    let case = Case {
        toml: Some("[devices]\npolling_interval_minutes = 5\ndefault_port = 4371\ntime_zone_unused = 1\n"),
        dotenv: None,
        env: &[],
    };
    assert!(case.error().contains("devices.time_zone_unused"), "unknown keys are named");
    let case = Case {
        toml: Some("time_zone = \"Europe/Berlin\"\n[devices]\npolling_interval_minutes = 5\ndefault_port = 4371\n"),
        dotenv: Some("POLLING_INTERVAL_MINUTES=7\n"),
        env: &[("ZKTECO_DEFAULT_PORT", "4372")],
    };
    let c = case.load().expect("loads").config;
    assert_eq!(c.time_zone.0, chrono_tz::Europe::Berlin);
    assert_eq!(c.devices.polling_interval_minutes, 7);
    assert_eq!(c.devices.default_port, 4372);
}

#[test]
fn django_secret_key_wins_over_secret_key() {
    let c = Case::env(&[("SECRET_KEY", "b"), ("DJANGO_SECRET_KEY", "a")]).load().expect("loads").config;
    assert_eq!(c.secret_key.map(|s| s.expose_secret().to_owned()).as_deref(), Some("a"));
}

/// Each bad value names key, value and source in one line.
#[test]
fn bad_values_name_key_value_and_source() {
    let cases: &[(Case, &[&str])] = &[
        (Case::env(&[("WORK_START_TIME", "8am")]), &["WORK_START_TIME", "\"8am\"", "environment variable", "08:00"]),
        (Case::env(&[("CRM_API_URL", "ftp://x")]), &["CRM_API_URL", "\"ftp://x\"", "environment variable", "https://"]),
        (Case::env(&[("TIME_ZONE", "Mars/Olympus")]), &["TIME_ZONE", "Mars/Olympus", "IANA"]),
        (Case::env(&[("POLLING_INTERVAL_MINUTES", "soon")]), &["POLLING_INTERVAL_MINUTES", "\"soon\""]),
        (Case::env(&[("POLLING_INTERVAL_MINUTES", "0")]), &["POLLING_INTERVAL_MINUTES", "\"0\"", "at least 1"]),
        (Case::env(&[("OUTLIER_EMAIL_RECIPIENTS", "hr@x.com,nobody")]), &["OUTLIER_EMAIL_RECIPIENTS", "\"nobody\""]),
        (Case::env(&[("EMAIL_BACKEND", "carrier-pigeon")]), &["EMAIL_BACKEND", "carrier-pigeon"]),
        (
            Case { toml: None, dotenv: Some("WORK_END_TIME=5pm\n"), env: &[] },
            &["WORK_END_TIME", "\"5pm\"", ".env file", ".env"],
        ),
        (
            Case { toml: Some("[shift]\nwork_start_time = \"8am\"\n"), dotenv: None, env: &[] },
            &["shift.work_start_time", "\"8am\"", "TOML file", "bridge.toml"],
        ),
        (
            Case { toml: Some("[crm]\napi_url = \"nope\n"), dotenv: None, env: &[] },
            &["bridge.toml", "not valid TOML", "line 2"],
        ),
        (Case::env(&[("WORK_START_TIME", "18:00"), ("WORK_END_TIME", "06:00")]), &["WORK_END_TIME", "OVERNIGHT_SHIFT"]),
    ];
    for (case, needles) in cases {
        let message = case.error();
        assert!(!message.contains('\n'), "one line: {message}");
        for needle in *needles {
            assert!(message.contains(needle), "{message:?} should contain {needle:?}");
        }
    }
}

#[test]
fn secrets_never_show() {
    let bad_db = Case::env(&[("DATABASE_URL", "mysql://root:hunter2@db/x")]).error();
    assert!(bad_db.contains("DATABASE_URL") && !bad_db.contains("hunter2"), "{bad_db}");

    let c = Case::env(&[
        ("SECRET_KEY", "topsecret-key"),
        ("CRM_API_TOKEN", "crm-token-value"),
        ("EMAIL_HOST_PASSWORD", "smtp-pass"),
        ("DATABASE_URL", "postgres://bridge:db-pass@localhost/bridge"),
    ])
    .load()
    .expect("loads")
    .config;
    let shown = format!("{c:?}");
    for secret in ["topsecret-key", "crm-token-value", "smtp-pass", "db-pass"] {
        assert!(!shown.contains(secret), "{secret} leaked into Debug output");
    }
}

#[test]
fn missing_explicit_file_is_an_error() {
    let sources = ConfigSources {
        toml: Some((PathBuf::from("/nonexistent/bridge.toml"), true)),
        dotenv: None,
        env: FlatVars::from_pairs([], "environment variable", None),
    };
    let message = Config::load(&sources).expect_err("missing file").to_string();
    assert!(message.contains("/nonexistent/bridge.toml"), "{message}");
}

/// The plugin time limit replaced fuel; a configuration written for fuel still loads, with a notice.
#[test]
fn plugin_time_limit_and_the_retired_fuel_key() {
    let loaded = Case::env(&[]).load().expect("defaults load");
    assert_eq!(loaded.config.plugins.time_limit_ms, 2_000);
    assert!(!loaded.notices.iter().any(|n| n.contains("fuel")));
    let loaded = Case::env(&[("PLUGIN_TIME_LIMIT_MS", "500")]).load().expect("loads");
    assert_eq!(loaded.config.plugins.time_limit_ms, 500);
    let loaded = Case { toml: Some("[plugins]\nfuel = 2000000000\n"), dotenv: None, env: &[] }.load().expect("old key loads");
    assert!(loaded.notices.iter().any(|n| n.contains("plugins.fuel (PLUGIN_FUEL) is ignored")), "{:?}", loaded.notices);
    let loaded = Case::env(&[("PLUGIN_FUEL", "2000000000")]).load().expect("old variable loads");
    assert!(loaded.notices.iter().any(|n| n.contains("PLUGIN_FUEL")), "{:?}", loaded.notices);
    let message = Case::env(&[("PLUGIN_TIME_LIMIT_MS", "0")]).error();
    assert!(message.contains("PLUGIN_TIME_LIMIT_MS") && message.contains("10 to 3600000"), "{message}");
}

/// The per-run plugin budget: ten minutes by default, settable, never zero.
#[test]
fn plugin_run_budget() {
    assert_eq!(Case::env(&[]).load().expect("defaults load").config.plugins.run_budget_seconds, 600);
    let loaded = Case::env(&[("PLUGIN_RUN_BUDGET_SECONDS", "30")]).load().expect("loads");
    assert_eq!(loaded.config.plugins.run_budget_seconds, 30);
    let message = Case::env(&[("PLUGIN_RUN_BUDGET_SECONDS", "0")]).error();
    assert!(message.contains("PLUGIN_RUN_BUDGET_SECONDS") && message.contains("1 to 86400"), "{message}");
}
