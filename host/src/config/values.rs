//! Typed configuration values that validate themselves while being read.
//!
//! Each type refuses a bad value with a message that says what was expected; the loader adds the key,
//! the value and where it came from. Secrets are wrapped so `Debug` never prints them.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveTime;
use serde::de::{self, Deserializer, Unexpected};
use serde::{Deserialize, Serialize, Serializer};

/// A wall-clock time of day written `HH:MM` (or `HH:MM:SS`), as in `WORK_START_TIME=08:00`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct WallClock(pub NaiveTime);

impl FromStr for WallClock {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        NaiveTime::parse_from_str(s.trim(), "%H:%M")
            .or_else(|_| NaiveTime::parse_from_str(s.trim(), "%H:%M:%S"))
            .map(WallClock)
            .map_err(|_| ())
    }
}

impl<'de> Deserialize<'de> for WallClock {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(|()| de::Error::invalid_value(Unexpected::Str(&s), &"a 24-hour time like 08:00"))
    }
}

impl Serialize for WallClock {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.format("%H:%M").to_string())
    }
}

/// An IANA time zone name such as `Africa/Nairobi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZone(pub chrono_tz::Tz);

impl<'de> Deserialize<'de> for TimeZone {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.trim()
            .parse::<chrono_tz::Tz>()
            .map(TimeZone)
            .map_err(|_| de::Error::invalid_value(Unexpected::Str(&s), &"an IANA time zone like Europe/Berlin"))
    }
}

impl Serialize for TimeZone {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.name())
    }
}

/// Query parameters whose values are treated as secrets when a URL is printed.
const SECRET_QUERY_KEYS: [&str; 9] = ["token", "access_token", "api_key", "apikey", "key", "secret", "password", "pass", "signature"];

/// A form of `url` safe to print or log: the password of a `user:password@` part and the values of
/// query parameters named like secrets (`token`, `api_key`, `password`…) become `REDACTED`. The one
/// helper every printed URL goes through (the CRM endpoint, the database URL).
pub fn redact_url(url: &url::Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("REDACTED"));
    }
    if shown.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let secret = SECRET_QUERY_KEYS.iter().any(|s| k.eq_ignore_ascii_case(s));
                (k.into_owned(), if secret { "REDACTED".to_owned() } else { v.into_owned() })
            })
            .collect();
        shown.query_pairs_mut().clear().extend_pairs(pairs);
    }
    shown.to_string()
}

/// An `http://` or `https://` URL with a host (the CRM endpoint).
#[derive(Clone, PartialEq, Eq)]
pub struct HttpUrl(pub url::Url);

impl HttpUrl {
    /// Whether requests travel unencrypted (accepted for a CRM on the same network, with a warning).
    pub fn is_plain_http(&self) -> bool {
        self.0.scheme() == "http"
    }
}

impl HttpUrl {
    /// The URL safe to print ([`redact_url`]).
    pub fn redacted(&self) -> String {
        redact_url(&self.0)
    }
}

impl fmt::Debug for HttpUrl {
    /// Prints the URL with its password and secret query values redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl<'de> Deserialize<'de> for HttpUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let expected = &"an http:// or https:// URL";
        let url = url::Url::parse(s.trim()).map_err(|_| de::Error::invalid_value(Unexpected::Str(&s), expected))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(de::Error::invalid_value(Unexpected::Str(&s), expected));
        }
        Ok(HttpUrl(url))
    }
}

/// Where the data lives: a SQLite file or a PostgreSQL server.
///
/// `Debug` hides the PostgreSQL password; the whole URL is treated as a secret in error messages.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite database file (`sqlite://path`, `sqlite:path` or a bare path).
    Sqlite(std::path::PathBuf),
    /// A `postgres://` or `postgresql://` connection URL.
    Postgres(url::Url),
}

impl DatabaseUrl {
    /// Parses the forms `DATABASE_URL` accepts.
    ///
    /// # Errors
    /// Anything that is neither a SQLite path nor a PostgreSQL URL.
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let s = s.trim();
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            let url = url::Url::parse(s).map_err(|_| "a postgres://user@host/db URL")?;
            if url.host().is_none() {
                return Err("a postgres://user@host/db URL");
            }
            return Ok(DatabaseUrl::Postgres(url));
        }
        let path = s.strip_prefix("sqlite://").or_else(|| s.strip_prefix("sqlite:")).unwrap_or(s);
        if path.is_empty() || path.contains("://") {
            return Err("a postgres:// URL or a sqlite:// file path");
        }
        Ok(DatabaseUrl::Sqlite(path.into()))
    }

    /// A form safe to print: the path, or the URL with its password masked.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => redact_url(url),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl<'de> Deserialize<'de> for DatabaseUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        // The value may hold a password: the message names the expectation, never the value.
        DatabaseUrl::parse(&s).map_err(de::Error::custom)
    }
}

/// How outlier e-mails leave the bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailBackend {
    /// Send through the SMTP server in `EMAIL_HOST`.
    Smtp,
    /// Write messages to the log instead of sending them (Django's console backend).
    Console,
    /// Write each message as an `.eml` file into `EMAIL_FILE_PATH` (Django's file-based backend).
    File,
    /// Drop messages.
    Disabled,
}

impl<'de> Deserialize<'de> for EmailBackend {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        // Django sites write the backend's dotted class path; accept those beside the short names.
        match s.trim().to_ascii_lowercase().as_str() {
            "smtp" | "django.core.mail.backends.smtp.emailbackend" => Ok(EmailBackend::Smtp),
            "console" | "django.core.mail.backends.console.emailbackend" => Ok(EmailBackend::Console),
            "file" | "django.core.mail.backends.filebased.emailbackend" => Ok(EmailBackend::File),
            "disabled" | "none" | "off" | "django.core.mail.backends.dummy.emailbackend" => Ok(EmailBackend::Disabled),
            _ => Err(de::Error::invalid_value(Unexpected::Str(&s), &"smtp, console, file or disabled")),
        }
    }
}

/// Source networks in CIDR form (`192.168.1.0/24`, `10.0.0.5/32`), as a TOML array or comma-separated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Networks(pub Vec<ipnet::IpNet>);

impl Networks {
    /// Whether `ip` may connect: an empty list allows everyone.
    pub fn allows(&self, ip: std::net::IpAddr) -> bool {
        self.0.is_empty() || self.0.iter().any(|net| net.contains(&ip))
    }
}

impl<'de> Deserialize<'de> for Networks {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let items = CommaList::deserialize(d)?;
        items
            .0
            .iter()
            .map(|item| {
                item.parse::<ipnet::IpNet>()
                    .or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| de::Error::invalid_value(Unexpected::Str(item), &"networks like 192.168.1.0/24"))
            })
            .collect::<Result<_, _>>()
            .map(Networks)
    }
}

/// A list written either as a TOML array or as one comma-separated string (`ALLOWED_HOSTS=a,b`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct CommaList(pub Vec<String>);

impl<'de> Deserialize<'de> for CommaList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            One(String),
            Many(Vec<String>),
        }
        let items = match Either::deserialize(d)? {
            Either::One(s) => s.split(',').map(str::to_owned).collect(),
            Either::Many(v) => v,
        };
        Ok(CommaList(items.into_iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_clock_accepts_hh_mm_only() {
        assert!("08:00".parse::<WallClock>().is_ok());
        assert!("17:30:00".parse::<WallClock>().is_ok());
        for bad in ["8am", "25:00", "", "08-00"] {
            assert!(bad.parse::<WallClock>().is_err(), "{bad}");
        }
    }

    #[test]
    fn printed_urls_hide_their_secrets() {
        let url = url::Url::parse("https://bridge:hunter2@127.0.0.1:8443/api/days?token=abc123&site=north&API_KEY=k9").expect("url");
        let shown = redact_url(&url);
        assert_eq!(shown, "https://bridge:REDACTED@127.0.0.1:8443/api/days?token=REDACTED&site=north&API_KEY=REDACTED");
        assert_eq!(redact_url(&url::Url::parse("http://127.0.0.1/x").expect("url")), "http://127.0.0.1/x");
        assert_eq!(format!("{:?}", HttpUrl(url)), shown);
    }

    #[test]
    fn database_url_forms() {
        assert!(matches!(DatabaseUrl::parse("postgres://u:p@h/db"), Ok(DatabaseUrl::Postgres(_))));
        assert_eq!(DatabaseUrl::parse("sqlite://data/x.db"), Ok(DatabaseUrl::Sqlite("data/x.db".into())));
        assert_eq!(DatabaseUrl::parse("x.db"), Ok(DatabaseUrl::Sqlite("x.db".into())));
        assert!(DatabaseUrl::parse("mysql://h/db").is_err());
        let shown = format!("{:?}", DatabaseUrl::parse("postgres://u:hunter2@h/db").unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
