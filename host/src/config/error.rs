//! Configuration errors, each rendered as one line an operator can act on.

use std::path::PathBuf;

use figment::error::Kind;
use figment::value::Value;
use figment::{Figment, Metadata, Source};

use super::sources::{SECRET_KEYS, env_names_for};

/// Why the configuration cannot be used. `Display` is a single line naming the key, the value and the source.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--config` named a file that is not there.
    #[error("configuration file {} does not exist", .0.display())]
    MissingFile(PathBuf),
    /// The `.env` file could not be read or has a line that is not `KEY=value`.
    #[error("cannot read .env file: {0}")]
    DotEnv(String),
    /// A TOML file is not valid TOML.
    #[error("{file} is not valid TOML: {message}")]
    Syntax {
        /// The file.
        file: String,
        /// What the TOML parser said, on one line.
        message: String,
    },
    /// A key has a value the bridge cannot use.
    #[error("{key}{} (from {origin}): {problem}", value_part(.value))]
    Invalid {
        /// The key as the source spells it (`WORK_START_TIME` in the environment, `shift.work_start_time` in TOML).
        key: String,
        /// The offending value, absent for secrets.
        value: Option<String>,
        /// Where the value came from.
        origin: String,
        /// What is wrong, or what was expected.
        problem: String,
    },
}

fn value_part(value: &Option<String>) -> String {
    match value {
        Some(v) => format!(" = {v:?}"),
        None => String::new(),
    }
}

impl ConfigError {
    /// A key whose value passed its type but fails a wider check.
    pub(super) fn invalid(figment: &Figment, key: &str, value: Option<String>, problem: String) -> Self {
        let metadata = figment.find_metadata(key);
        let value = if SECRET_KEYS.contains(&key) { None } else { value };
        ConfigError::Invalid { key: spelled(key, metadata), value, origin: describe(metadata), problem }
    }

    /// Turns the first of figment's errors into a one-line message.
    pub(super) fn from_figment(figment: &Figment, error: figment::Error) -> Self {
        let Some(first) = error.into_iter().next() else {
            return ConfigError::DotEnv("unknown configuration error".into());
        };
        let key = first.path.join(".");
        let metadata = first.metadata.as_ref();
        if key.is_empty() {
            if let Kind::Message(message) = &first.kind {
                let file = metadata.map_or_else(|| "configuration".into(), |m| describe(Some(m)));
                return ConfigError::Syntax { file, message: one_line(message) };
            }
        }
        let problem = match &first.kind {
            Kind::InvalidValue(_, expected) | Kind::InvalidType(_, expected) => format!("expected {expected}"),
            Kind::UnknownField(field, _) => {
                return ConfigError::Invalid {
                    key: if key.is_empty() { field.clone() } else { format!("{key}.{field}") },
                    value: None,
                    origin: describe(metadata),
                    problem: "is not a known key".into(),
                };
            }
            Kind::Message(message) => one_line(message),
            other => one_line(&other.to_string()),
        };
        let value = if SECRET_KEYS.contains(&key.as_str()) {
            None
        } else {
            figment.find_value(&key).ok().as_ref().map(show_value)
        };
        ConfigError::Invalid { key: spelled(&key, metadata), value, origin: describe(metadata), problem }
    }
}

/// The key as the operator wrote it: the flat variable name for environment and `.env` values.
fn spelled(key: &str, metadata: Option<&Metadata>) -> String {
    let flat = metadata.is_some_and(|m| m.name == "environment variable" || m.name == ".env file");
    if flat {
        let names = env_names_for(key);
        if !names.is_empty() {
            return names.join(" / ");
        }
    }
    key.to_owned()
}

/// "environment variable", ".env file /srv/.env", "TOML file /etc/bridge.toml".
fn describe(metadata: Option<&Metadata>) -> String {
    let Some(metadata) = metadata else { return "built-in default".into() };
    match &metadata.source {
        Some(Source::File(path)) if metadata.name.contains("TOML") => format!("TOML file {}", path.display()),
        Some(Source::File(path)) => format!("{} {}", metadata.name, path.display()),
        _ => metadata.name.to_string(),
    }
}

fn show_value(value: &Value) -> String {
    match value {
        Value::String(_, s) => s.clone(),
        Value::Char(_, c) => c.to_string(),
        Value::Bool(_, b) => b.to_string(),
        Value::Num(_, n) => n
            .to_i128()
            .map(|i| i.to_string())
            .or_else(|| n.to_f64().map(|f| f.to_string()))
            .unwrap_or_default(),
        Value::Empty(..) => String::new(),
        Value::Dict(..) => "a table".into(),
        Value::Array(..) => "a list".into(),
    }
}

/// Squeezes a multi-line parser message (with its source excerpt) into one line.
fn one_line(message: &str) -> String {
    let lines: Vec<&str> = message.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let head = lines.first().copied().unwrap_or_default();
    // toml's messages end with the explanation after an excerpt framed by `|` lines.
    let tail = lines.iter().rev().find(|l| !l.starts_with('|') && !l.contains(" | ") && **l != head);
    match tail {
        Some(tail) => format!("{head}: {tail}"),
        None => head.to_owned(),
    }
}
