//! The real application on an ephemeral loopback port, in-process.

use std::net::SocketAddr;

use attendance_bridge::config::Config;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::db::{Backend, TestDb};

/// A running bridge; dropping it stops the server.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// The database it runs on.
    pub db: TestDb,
    /// The configuration it was started with.
    pub config: Config,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    /// Starts the bridge on `backend` with default configuration.
    pub async fn start(backend: Backend) -> TestApp {
        Self::start_with(backend, |_| {}).await
    }

    /// Starts the bridge on `backend` after `adjust` edits the configuration.
    ///
    /// # Panics
    /// When it does not start (see [`TestApp::try_start_with`]).
    pub async fn start_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
        Self::try_start_with(backend, adjust).await.unwrap_or_else(|e| panic!("the bridge did not start: {e:#}"))
    }

    /// [`TestApp::start_with`], returning why the bridge stopped instead of becoming ready (for
    /// configurations that bind a chosen port, which another process may have taken meanwhile).
    ///
    /// # Errors
    /// What `serve` returned, or that it never answered `/readyz`.
    pub async fn try_start_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> anyhow::Result<TestApp> {
        let db = TestDb::new(backend).await;
        let mut config = Config { database_url: Some(db.url.clone()), data_dir: db.dir.path().join("data"), ..Config::default() };
        adjust(&mut config);
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("bind");
        let address = listener.local_addr().expect("local addr");
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(attendance_bridge::serve(config.clone(), listener, async {
            let _ = rx.await;
        }));
        let mut app = TestApp { base_url: format!("http://{address}"), db, config, shutdown: Some(tx), task: Some(task) };
        app.wait_ready().await?;
        Ok(app)
    }

    /// `GET path` on the app.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        reqwest::get(format!("{}{path}", self.base_url)).await.expect("request")
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        for _ in 0..400 {
            if let Ok(response) = reqwest::get(format!("{}/readyz", self.base_url)).await
                && response.status().is_success()
            {
                return Ok(());
            }
            if self.task.as_ref().is_some_and(JoinHandle::is_finished) {
                let ended = self.task.take().expect("the finished task").await?;
                return Err(ended.err().unwrap_or_else(|| anyhow::anyhow!("serve returned before it was ready")));
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        anyhow::bail!("the bridge did not become ready in 10 s")
    }

    /// Stops the server and waits for it to finish, returning what `serve` returned.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => task.await?,
            None => Ok(()),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
