//! The `sync_to_crm` and `retry_failed_syncs` jobs: the scheduler's side of [`crate::sync`].
//!
//! Without `CRM_API_URL` both jobs succeed doing nothing (and say so in their run record), so a site
//! can run the bridge for reports alone; the outbox still fills and drains once a CRM is configured.

use std::sync::Arc;

use super::{Job, JobError, JobFuture};
use crate::config::Config;
use crate::plugins::Registry;
use crate::store::{Store, outbox};
use crate::sync::payload::Renderer;
use crate::sync::{SendSettings, Sender, SyncError};

/// The sender the configuration describes, or `None` when no CRM is configured.
///
/// # Errors
/// When the CRM settings are invalid (a malformed signing secret) or the HTTP client cannot be built.
pub fn configured_sender(store: &Store, registry: &Arc<Registry>, config: &Config, owner: &str) -> Result<Option<Sender>, SyncError> {
    let Some(settings) = SendSettings::from_config(&config.crm)? else { return Ok(None) };
    let renderer = Renderer::new(store.clone(), Arc::clone(registry), config.plugins.crm.clone());
    Sender::new(store.clone(), settings, renderer, owner).map(Some)
}

/// Sends what is due every `sync_to_crm` tick.
pub struct SyncToCrm {
    store: Store,
    registry: Arc<Registry>,
    config: Config,
    instance: String,
}

impl SyncToCrm {
    /// The job for `instance` (its name goes into the outbox leases).
    pub fn new(store: Store, registry: Arc<Registry>, config: Config, instance: &str) -> Self {
        Self { store, registry, config, instance: instance.to_owned() }
    }
}

impl Job for SyncToCrm {
    fn name(&self) -> crate::store::jobs::JobName {
        crate::store::jobs::JobName::SyncToCrm
    }

    fn run(&self) -> JobFuture {
        let sender = configured_sender(&self.store, &self.registry, &self.config, &self.instance);
        let (store, registry) = (self.store.clone(), Arc::clone(&self.registry));
        Box::pin(async move {
            // Settings saved on the plugins page since the last run.
            super::plugin_config::refresh(&store, &registry).await?;
            let Some(sender) = sender.map_err(|e| JobError::Failed(e.to_string()))? else {
                return Ok(serde_json::json!({ "skipped": "CRM_API_URL is not set" }));
            };
            let report = sender.run_once(None).await.map_err(|e| JobError::Failed(e.to_string()))?;
            Ok(serde_json::to_value(report).unwrap_or_default())
        })
    }
}

/// Every `retry_failed_syncs` tick: gives deliveries that ran out of retries on transient failures (a
/// CRM down for hours) a fresh budget. Rejections (4xx) and replayed stored failures stay dead letters:
/// resending them cannot succeed, so only an operator's `sync-to-crm --retry-failed` brings them back.
pub struct RetryFailedSyncs {
    store: Store,
}

impl RetryFailedSyncs {
    /// The job.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

impl Job for RetryFailedSyncs {
    fn name(&self) -> crate::store::jobs::JobName {
        crate::store::jobs::JobName::RetryFailedSyncs
    }

    fn run(&self) -> JobFuture {
        let store = self.store.clone();
        Box::pin(async move {
            let requeued = outbox::requeue_exhausted(&store).await?;
            Ok(serde_json::json!({ "requeued": requeued }))
        })
    }
}
