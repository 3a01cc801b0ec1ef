//! `check_alerts`: evaluates the operational alert conditions and sends their start and end e-mails
//! ([`crate::notify::alerts`]).

use crate::config::Config;
use crate::notify::Mailer;
use crate::notify::alerts;
use crate::store::Store;

use super::{Job, JobError, JobFuture};

/// The job.
pub struct CheckAlerts {
    store: Store,
    config: Config,
}

impl CheckAlerts {
    /// The job over `store`, with the alert and e-mail settings of `config`.
    pub fn new(store: Store, config: Config) -> Self {
        Self { store, config }
    }
}

impl Job for CheckAlerts {
    fn name(&self) -> crate::store::jobs::JobName {
        crate::store::jobs::JobName::CheckAlerts
    }

    fn run(&self) -> JobFuture {
        let (store, config) = (self.store.clone(), self.config.clone());
        Box::pin(async move {
            if !config.alerts.enabled {
                return Ok(serde_json::json!({ "skipped": "ALERT_EMAILS is off" }));
            }
            let mailer = Mailer::from_settings(&config.email, config.data_dir.join("mail")).map_err(|e| JobError::Failed(e.to_string()))?;
            let report = alerts::check(&store, &config, &mailer).await.map_err(|e| JobError::Failed(e.to_string()))?;
            Ok(serde_json::to_value(report).unwrap_or_default())
        })
    }
}
