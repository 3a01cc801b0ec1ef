//! A small browser for the web suites: keeps cookies by hand, never follows redirects, and signs in
//! through the real login form.

use std::collections::BTreeMap;

use attendance_bridge::domain::Role;
use attendance_bridge::store::{Store, users};

/// A password every test account gets.
pub const PASSWORD: &str = "correct horse battery staple";

/// Creates an account with `role` and [`PASSWORD`].
///
/// # Panics
/// When the store refuses it.
pub async fn create_account(store: &Store, username: &str, role: Role) -> users::User {
    let hash = attendance_bridge::auth::hash_password(PASSWORD).expect("hash");
    users::create_with_role(store, username, &hash, role).await.expect("create account")
}

/// A cookie-keeping client for one app.
pub struct Browser {
    /// The client (redirects off).
    pub client: reqwest::Client,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// Cookies by name.
    pub cookies: BTreeMap<String, String>,
    /// `X-Forwarded-For` to send, if any.
    pub forwarded_for: Option<String>,
    /// `X-Forwarded-Proto` to send, if any (a TLS proxy in front of the bridge).
    pub forwarded_proto: Option<String>,
}

impl Browser {
    /// A browser with no cookies.
    pub fn new(base_url: &str) -> Browser {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        Browser { client, base_url: base_url.to_owned(), cookies: BTreeMap::new(), forwarded_for: None, forwarded_proto: None }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn prepare(&self, builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let mut builder = builder;
        if !self.cookies.is_empty() {
            builder = builder.header("Cookie", self.cookie_header());
        }
        if let Some(xff) = &self.forwarded_for {
            builder = builder.header("X-Forwarded-For", xff);
        }
        if let Some(proto) = &self.forwarded_proto {
            builder = builder.header("X-Forwarded-Proto", proto);
        }
        builder
    }

    /// Keeps the cookies a response sets (and drops those it clears).
    pub fn absorb(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all("set-cookie") {
            let Ok(text) = value.to_str() else { continue };
            let Some((name, rest)) = text.split_once('=') else { continue };
            let value = rest.split(';').next().unwrap_or_default().to_owned();
            if value.is_empty() || text.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value);
            }
        }
    }

    /// `GET path`.
    pub async fn get(&mut self, path: &str) -> reqwest::Response {
        let response = self.prepare(self.client.get(format!("{}{path}", self.base_url))).send().await.expect("GET");
        self.absorb(&response);
        response
    }

    /// `POST path` with a urlencoded form and extra headers.
    pub async fn post_form(&mut self, path: &str, fields: &[(&str, &str)], headers: &[(&str, &str)]) -> reqwest::Response {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        let mut builder = self
            .prepare(self.client.post(format!("{}{path}", self.base_url)))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let response = builder.send().await.expect("POST");
        self.absorb(&response);
        response
    }

    /// The login form's CSRF token (fetching the form when the browser has none yet).
    pub async fn login_csrf(&mut self) -> String {
        if let Some(token) = self.cookie_ending("bridge_login_csrf") {
            return token;
        }
        let page = self.get("/login").await;
        assert_eq!(page.status(), 200);
        self.cookie_ending("bridge_login_csrf").expect("the login page sets its CSRF cookie")
    }

    /// The value of the cookie whose name ends with `suffix` (with or without the `__Host-` prefix).
    pub fn cookie_ending(&self, suffix: &str) -> Option<String> {
        self.cookies.iter().find(|(k, _)| k.ends_with(suffix)).map(|(_, v)| v.clone())
    }

    /// Submits the login form; returns the response (303 on success).
    pub async fn login(&mut self, username: &str, password: &str, next: Option<&str>) -> reqwest::Response {
        let csrf = self.login_csrf().await;
        let mut fields = vec![("username", username), ("password", password), ("csrf_token", csrf.as_str())];
        if let Some(next) = next {
            fields.push(("next", next));
        }
        self.post_form("/login", &fields, &[]).await
    }

    /// Signs in and asserts it worked.
    pub async fn sign_in(&mut self, username: &str) {
        let response = self.login(username, PASSWORD, None).await;
        assert_eq!(response.status(), 303, "sign-in of {username}: {:?}", response.text().await);
    }

    /// The session's CSRF token, read from the sign-out form of the overview page.
    pub async fn session_csrf(&mut self) -> String {
        let page = self.get("/").await;
        assert_eq!(page.status(), 200, "signed in");
        let html = page.text().await.expect("page");
        hidden_field(&html, "csrf_token").expect("the page carries a CSRF token")
    }
}

/// The value of a hidden form field in `html`, HTML entities decoded.
pub fn hidden_field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    let value = html[start..end]
        .replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    Some(value)
}

/// The HTML of `path` as a freshly created admin sees it (for suites checking page content).
///
/// # Panics
/// When signing in or the page fails.
pub async fn signed_in_page(base_url: &str, store: &Store, path: &str) -> String {
    static ACCOUNTS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let name = format!("page-reader-{}", ACCOUNTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    create_account(store, &name, Role::Admin).await;
    let mut browser = Browser::new(base_url);
    browser.sign_in(&name).await;
    let page = browser.get(path).await;
    assert_eq!(page.status(), 200, "{path}");
    page.text().await.expect("page")
}
