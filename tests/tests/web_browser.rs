//! The browser harness itself, in headless Chromium: signing in through the form lands on the home
//! page inside the site frame; a signed-out browser is sent to the sign-in page; a page that fails
//! shows the site's error page, not JSON.

use attendance_bridge::domain::Role;
use bridge_e2e::browser::Chrome;
use bridge_e2e::web::{PASSWORD, create_account};
use bridge_e2e::{Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_through_the_form_shows_the_home_page_in_the_site_frame() {
    let app = TestApp::start_with(Backend::Sqlite, |c| c.company_name = Some("Acme Bakery".into())).await;
    create_account(&app.db.store().await, "hr", Role::Viewer).await;
    let chrome = Chrome::start(&app.base_url, "web_browser").await;

    chrome.open("/").await;
    assert!(chrome.current_path().await.starts_with("/login"), "signed out, / goes to the sign-in page");
    chrome.screenshot("login").await;

    chrome.sign_in("hr", PASSWORD).await;
    assert_eq!(chrome.current_path().await, "/");
    assert_eq!(chrome.text("#signed-in-user").await, "hr");
    let text = chrome.page_text().await;
    assert!(text.contains("Acme Bakery"), "the company name is in the frame: {text}");
    assert!(text.contains("Reports"), "the navigation is there: {text}");
    assert!(!text.to_lowercase().contains("administration"), "a viewer sees no administration menu: {text}");
    chrome.screenshot("home-viewer").await;

    chrome.open("/no/such/page").await;
    let text = chrome.page_text().await;
    assert!(text.contains("404"), "an unknown page shows the error page: {text}");
    chrome.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_page_lists_every_operation_inside_the_site_frame() {
    let app = TestApp::start(Backend::Sqlite).await;
    create_account(&app.db.store().await, "ada", Role::Admin).await;
    let chrome = Chrome::start(&app.base_url, "web_browser").await;
    chrome.sign_in("ada", PASSWORD).await;
    chrome.open("/api/docs").await;
    let text = chrome.page_text().await;
    assert!(text.contains("/api/processed-attendance/{id}/"), "paths read as they are called: {text}");
    assert!(text.to_lowercase().contains("administration"), "an admin sees the administration menu");
    assert!(!text.contains('`'), "descriptions' backticks became code spans");
    chrome.screenshot("api-docs").await;
    chrome.close().await;
}
