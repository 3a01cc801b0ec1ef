//! Headless Chromium for the page suites, driven over WebDriver (`fantoccini` + Debian's
//! `chromedriver`): sign in through the real form, open pages, take screenshots a person looks at,
//! print to PDF and read the PDF's text back with `pdftotext`.
//!
//! `scripts/test.sh` installs `chromium`, `chromium-driver` and `poppler-utils` when they are missing;
//! a suite that needs the browser fails (never skips) when they are not there.
//!
//! Chromium runs with the flags this closed network needs (no background networking, no component
//! updates, no QUIC), in a fresh profile per [`Chrome`], and only ever opens loopback pages.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
// chromedriver listens on loopback over plain HTTP: no TLS stack needed.
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

/// The Chromium binary Debian's package installs.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// The matching WebDriver server.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Where suites keep what a person should look at after a run: `<target>/test-output/<suite>/`.
///
/// # Panics
/// When the folder cannot be created.
pub fn output_dir(suite: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| crate::workspace_root().join("target"), PathBuf::from);
    let target = if target.is_absolute() { target } else { crate::workspace_root().join(target) };
    let dir = target.join("test-output").join(suite);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

/// A headless Chromium with its own chromedriver and profile. Dropping it stops both.
pub struct Chrome {
    /// The WebDriver session.
    pub client: Client,
    /// The bridge under test, `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// Where [`Chrome::screenshot`] writes.
    pub screenshots: PathBuf,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Chrome {
    /// Starts chromedriver on a free loopback port and a headless Chromium session (1366×900).
    ///
    /// # Panics
    /// When Chromium or chromedriver is missing (run `scripts/test.sh`, which installs them) or does
    /// not start.
    pub async fn start(base_url: &str, suite: &str) -> Chrome {
        for binary in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(binary).exists(),
                "{binary} is missing: the page suites need Debian's chromium and chromium-driver (scripts/test.sh installs them)"
            );
        }
        let port = crate::free_port();
        let driver = Command::new(CHROMEDRIVER)
            .args([format!("--port={port}"), "--allowed-ips=127.0.0.1".into(), "--log-level=SEVERE".into()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().expect("a Chromium profile folder");
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1366,900", "--lang=en-GB",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                "prefs": { "download.prompt_for_download": false }
            }
        });
        let capabilities = match capabilities {
            serde_json::Value::Object(map) => map,
            _ => unreachable!("an object literal"),
        };
        let mut client = None;
        for _ in 0..100 {
            match ClientBuilder::new(HttpConnector::new()).capabilities(capabilities.clone()).connect(&format!("http://127.0.0.1:{port}")).await {
                Ok(c) => {
                    client = Some(c);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let client = client.expect("a Chromium session through chromedriver");
        Chrome { client, base_url: base_url.trim_end_matches('/').to_owned(), screenshots: output_dir(suite), driver, _profile: profile }
    }

    /// Opens `path` on the bridge.
    ///
    /// # Panics
    /// When the browser cannot navigate.
    pub async fn open(&self, path: &str) {
        self.client.goto(&format!("{}{path}", self.base_url)).await.unwrap_or_else(|e| panic!("opening {path}: {e}"));
    }

    /// The path (and query) the browser is on now.
    pub async fn current_path(&self) -> String {
        let url = self.client.current_url().await.expect("the current URL");
        let query = url.query().map(|q| format!("?{q}")).unwrap_or_default();
        format!("{}{query}", url.path())
    }

    /// Signs in through the login form and waits for the signed-in frame.
    ///
    /// # Panics
    /// When the form is missing or the sign-in fails.
    pub async fn sign_in(&self, username: &str, password: &str) {
        self.open("/login").await;
        self.fill("#username", username).await;
        self.fill("#password", password).await;
        self.click("form[action='/login'] button[type=submit]").await;
        self.client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css("#signed-in-user"))
            .await
            .unwrap_or_else(|e| panic!("signed in as {username}: {e}"));
    }

    /// Types `value` into the field `css` (after clearing it).
    ///
    /// # Panics
    /// When there is no such field.
    pub async fn fill(&self, css: &str, value: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap_or_else(|e| panic!("clearing {css}: {e}"));
        field.send_keys(value).await.unwrap_or_else(|e| panic!("typing into {css}: {e}"));
    }

    /// Clicks the element `css`.
    ///
    /// # Panics
    /// When there is no such element.
    pub async fn click(&self, css: &str) {
        let page = self.client.find(Locator::Css("html")).await.ok();
        let element = self.find(css).await;
        // A link to another page, or a submit button of a form, navigates.
        let navigates = self
            .client
            .execute(
                "const e = arguments[0]; const href = e.getAttribute('href') || ''; \
                 if (e.tagName === 'A') return href !== '' && !href.startsWith('#') && !href.startsWith('javascript:'); \
                 return (e.tagName === 'BUTTON' || e.tagName === 'INPUT') && e.type === 'submit' && e.form != null;",
                vec![serde_json::to_value(&element).unwrap_or_default()],
            )
            .await
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        element.click().await.unwrap_or_else(|e| panic!("clicking {css}: {e}"));
        // A link or a submit button replaces the document: wait (up to 60 s: a form may poll a
        // device) for the old one to go, so the next look finds the new page, not the one being left.
        if let (Some(page), true) = (page, navigates) {
            let started = std::time::Instant::now();
            while started.elapsed() < Duration::from_secs(60) && page.tag_name().await.is_ok() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let _ = self.client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("body")).await;
        }
    }

    /// The element `css`, waiting up to 10 s for it.
    ///
    /// # Panics
    /// When it does not appear.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css} on {}: {e}", self.base_url))
    }

    /// The visible text of the element `css`.
    pub async fn text(&self, css: &str) -> String {
        // An element can go stale between finding and reading it while a page is still loading:
        // find it again.
        let mut last = String::new();
        for _ in 0..20 {
            match self.find(css).await.text().await {
                Ok(text) => return text,
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("text of {css}: {last}")
    }

    /// The page's whole visible text.
    pub async fn page_text(&self) -> String {
        self.text("body").await
    }

    /// Saves a full-page PNG screenshot as `<output>/<name>.png` and returns its path. The window is
    /// grown to the page's height first, so long reports are captured whole.
    ///
    /// # Panics
    /// When the screenshot fails or cannot be written.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let height = self
            .client
            .execute("return Math.min(document.documentElement.scrollHeight, 6000);", vec![])
            .await
            .ok()
            .and_then(|v| v.as_u64())
            .unwrap_or(900)
            .max(900);
        let _ = self.client.set_window_size(1366, u32::try_from(height).unwrap_or(900) + 120).await;
        let png = self.client.screenshot().await.unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
        let _ = self.client.set_window_size(1366, 900).await;
        let path = self.screenshots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        path
    }

    /// Prints the current page to an A4 PDF the way the browser's print dialog would (print
    /// stylesheet applied), saves it as `<output>/<name>.pdf` and returns the text of each page.
    ///
    /// # Panics
    /// When printing fails or `pdftotext` is missing.
    pub async fn print_pdf(&self, name: &str) -> Vec<String> {
        let config = fantoccini::wd::PrintConfiguration::builder()
            .size(fantoccini::wd::PrintSize::A4)
            .build()
            .expect("an A4 print configuration");
        let pdf = self.client.print(config).await.unwrap_or_else(|e| panic!("printing {name}: {e}"));
        let path = self.screenshots.join(format!("{name}.pdf"));
        std::fs::write(&path, &pdf).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        pdf_pages(&path)
    }

    /// `GET path` with this browser's cookies (its signed-in session), for downloads (CSV, XLSX) the
    /// browser would save to disk: the status and the body.
    ///
    /// # Panics
    /// When the request fails.
    pub async fn download(&self, path: &str) -> (reqwest::StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
        let cookies = self.client.get_all_cookies().await.expect("the browser's cookies");
        let header = cookies.iter().map(|c| format!("{}={}", c.name(), c.value())).collect::<Vec<_>>().join("; ");
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        let response = client
            .get(format!("{}{path}", self.base_url))
            .header("Cookie", header)
            .send()
            .await
            .unwrap_or_else(|e| panic!("downloading {path}: {e}"));
        let (status, headers) = (response.status(), response.headers().clone());
        let body = response.bytes().await.expect("the body").to_vec();
        (status, headers, body)
    }

    /// Ends the browser session (dropping also stops chromedriver, which ends Chromium).
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Chrome {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The text of each page of a PDF (`pdftotext -layout`, pages split at form feeds).
///
/// # Panics
/// When `pdftotext` (Debian's `poppler-utils`) is missing or fails.
pub fn pdf_pages(pdf: &Path) -> Vec<String> {
    let output = Command::new("pdftotext")
        .args(["-layout", "-enc", "UTF-8"])
        .arg(pdf)
        .arg("-")
        .output()
        .unwrap_or_else(|e| panic!("pdftotext (poppler-utils) runs: {e}"));
    assert!(output.status.success(), "pdftotext {}: {}", pdf.display(), String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let mut pages: Vec<String> = text.split('\u{c}').map(str::to_owned).collect();
    if pages.last().is_some_and(|p| p.trim().is_empty()) {
        pages.pop();
    }
    pages
}
