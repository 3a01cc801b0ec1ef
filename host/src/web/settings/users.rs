//! `/admin/users`: sign-in accounts (create as admin or viewer, reset a password, deactivate) and
//! API tokens (create, shown once; revoke). Each change is audited; a reset also ends the
//! account's sessions, so whoever knew the old password is signed out.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use minijinja::context;
use rand::RngCore as _;

use super::super::view::{Flash, Nav, TakenFlash, frame, render};
use super::super::{AdminOnly, AppError, AppState, Principal};
use super::{local, record, shown};
use crate::auth;
use crate::domain::{Role, UserId};
use crate::store::{StoreError, sessions, tokens, users};

const BACK: &str = "/admin/users";

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/users", get(list).post(create))
        .route("/admin/users/{id}/password", post(reset_password))
        .route("/admin/users/{id}/active", post(set_active))
        .route("/admin/users/tokens", post(create_token))
        .route("/admin/users/tokens/{id}/revoke", post(revoke_token))
}

/// The page, optionally with a secret shown once (a new token or a generated password).
async fn page(state: &AppState, principal: &Principal, flash: Option<Flash>, secret: Option<minijinja::Value>) -> Result<axum::response::Html<String>, AppError> {
    let accounts = users::list(&state.store).await?;
    let now = chrono::Utc::now().naive_utc();
    let rows: Vec<_> = accounts
        .iter()
        .map(|u| {
            context! {
                id => u.id.0, username => u.username.clone(), role => u.role.as_str(), active => u.is_active,
                created => local(state, u.created_at), last_login => u.last_login_at.map(|t| local(state, t)),
                is_me => u.id == principal.user.id,
            }
        })
        .collect();
    let listed = tokens::list(&state.store, None).await?;
    let token_rows: Vec<_> = listed
        .iter()
        .map(|item| {
            let t = &item.token;
            let status = if t.revoked_at.is_some() {
                "revoked"
            } else if t.expires_at.is_some_and(|at| at <= now) {
                "expired"
            } else {
                "active"
            };
            context! {
                id => t.id, prefix => t.token_prefix.clone(), owner => item.username.clone(), name => t.name.clone(),
                created => local(state, t.created_at), last_used => t.last_used_at.map(|at| local(state, at)),
                expires => t.expires_at.map(|at| local(state, at)), status,
            }
        })
        .collect();
    let active_users: Vec<_> = accounts.iter().filter(|u| u.is_active).map(|u| u.username.clone()).collect();
    render(
        "web/settings/users.html",
        context! { users => rows, tokens => token_rows, active_users, secret, flash => shown(flash), ..frame(state, principal, Nav::Users) },
    )
}

async fn list(State(state): State<AppState>, AdminOnly(_): AdminOnly, taken: TakenFlash, Extension(principal): Extension<Principal>) -> Result<impl IntoResponse, AppError> {
    let html = page(&state, &principal, taken.message(), None).await?;
    Ok((taken, html))
}

/// A random password for an account created or reset without one (shown once).
fn generated_password() -> String {
    let mut bytes = [0u8; 12];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

async fn hash(password: String) -> Result<Result<String, String>, AppError> {
    tokio::task::spawn_blocking(move || auth::hash_password(&password).map_err(|e| e.to_string()))
        .await
        .map_err(|e| AppError::Internal(format!("password hashing task: {e}")))
}

#[derive(Debug, serde::Deserialize)]
struct CreateForm {
    username: String,
    role: String,
    #[serde(default)]
    password: String,
}

async fn create(
    State(state): State<AppState>,
    AdminOnly(admin): AdminOnly,
    Extension(principal): Extension<Principal>,
    Form(form): Form<CreateForm>,
) -> Result<Response, AppError> {
    let username = form.username.trim().to_owned();
    if username.is_empty() || username.len() > 150 || username.chars().any(char::is_control) {
        return Ok(Flash::error("A user name has 1 to 150 printable characters.").redirect(BACK));
    }
    let Ok(role) = form.role.parse::<Role>() else {
        return Ok(Flash::error("Pick a role: admin or viewer.").redirect(BACK));
    };
    let generated = form.password.is_empty();
    let password = if generated { generated_password() } else { form.password };
    let hashed = match hash(password.clone()).await? {
        Ok(h) => h,
        Err(e) => return Ok(Flash::error(format!("Not created: {e}.")).redirect(BACK)),
    };
    let user = match users::create_with_role(&state.store, &username, &hashed, role).await {
        Ok(user) => user,
        Err(StoreError::AlreadyExists(_)) => return Ok(Flash::error(format!("There is already a user {username}.")).redirect(BACK)),
        Err(e) => return Err(e.into()),
    };
    record(&state, &admin.username, "user.create", ("user", Some(user.username.clone())), None, Some(serde_json::json!({ "role": role.as_str() }))).await?;
    let flash = Flash::ok(format!("Created {} {username}.", role.as_str()));
    if generated {
        let secret = context! { label => format!("Password for {username}"), value => password, note => "Shown only now: hand it over safely; they can change it on their account page." };
        return Ok(page(&state, &principal, Some(flash), Some(secret)).await?.into_response());
    }
    Ok(flash.redirect(BACK))
}

async fn target(state: &AppState, id: i64) -> Result<users::User, AppError> {
    users::get(&state.store, UserId(id)).await?.ok_or_else(|| AppError::NotFound(format!("user {id}")))
}

#[derive(Debug, serde::Deserialize)]
struct PasswordForm {
    #[serde(default)]
    password: String,
}

async fn reset_password(
    State(state): State<AppState>,
    AdminOnly(admin): AdminOnly,
    Extension(principal): Extension<Principal>,
    Path(id): Path<i64>,
    Form(form): Form<PasswordForm>,
) -> Result<Response, AppError> {
    let user = target(&state, id).await?;
    let generated = form.password.is_empty();
    let password = if generated { generated_password() } else { form.password };
    let hashed = match hash(password.clone()).await? {
        Ok(h) => h,
        Err(e) => return Ok(Flash::error(format!("Password not changed: {e}.")).redirect(BACK)),
    };
    users::set_password_hash(&state.store, user.id, &hashed).await?;
    let ended = if user.id == principal.user.id { 0 } else { sessions::end_all_of(&state.store, user.id).await? };
    record(&state, &admin.username, "user.password_reset", ("user", Some(user.username.clone())), None, Some(serde_json::json!({ "sessions_ended": ended }))).await?;
    let flash = Flash::ok(format!("New password set for {}; {} signed out.", user.username, if ended == 1 { "1 session".to_owned() } else { format!("{ended} sessions") }));
    if generated {
        let secret = context! { label => format!("New password for {}", user.username), value => password, note => "Shown only now." };
        return Ok(page(&state, &principal, Some(flash), Some(secret)).await?.into_response());
    }
    Ok(flash.redirect(BACK))
}

#[derive(Debug, serde::Deserialize)]
struct ActiveForm {
    active: String,
}

async fn set_active(State(state): State<AppState>, AdminOnly(admin): AdminOnly, Path(id): Path<i64>, Form(form): Form<ActiveForm>) -> Result<Response, AppError> {
    let user = target(&state, id).await?;
    let active = form.active == "1";
    if !active && user.id == admin.id {
        return Ok(Flash::error("You cannot deactivate your own account.").redirect(BACK));
    }
    let changed = users::set_active(&state.store, user.id, active).await?;
    if !active {
        sessions::end_all_of(&state.store, user.id).await?;
    }
    record(
        &state,
        &admin.username,
        if active { "user.activate" } else { "user.deactivate" },
        ("user", Some(user.username.clone())),
        Some(serde_json::json!({ "active": user.is_active })),
        Some(serde_json::json!({ "active": changed.is_active })),
    )
    .await?;
    Ok(Flash::ok(if active {
        format!("{} may sign in again.", user.username)
    } else {
        format!("{} is deactivated: signed out, and their API tokens stop working.", user.username)
    })
    .redirect(BACK))
}

#[derive(Debug, serde::Deserialize)]
struct TokenForm {
    username: String,
    name: String,
    #[serde(default)]
    expires_in_days: String,
}

async fn create_token(
    State(state): State<AppState>,
    AdminOnly(admin): AdminOnly,
    Extension(principal): Extension<Principal>,
    Form(form): Form<TokenForm>,
) -> Result<Response, AppError> {
    let Some(owner) = users::find_by_username(&state.store, form.username.trim()).await? else {
        return Ok(Flash::error(format!("There is no user {}.", form.username.trim())).redirect(BACK));
    };
    let name = form.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Ok(Flash::error("Say what the token is for (1 to 100 characters).").redirect(BACK));
    }
    let expires_at = match form.expires_in_days.trim() {
        "" => None,
        days => match days.parse::<u32>() {
            Ok(days) if (1..=36_600).contains(&days) => Some(chrono::Utc::now().naive_utc() + chrono::TimeDelta::days(i64::from(days))),
            _ => return Ok(Flash::error("Expiry is a number of days from 1 to 36600, or empty for never.").redirect(BACK)),
        },
    };
    let token = auth::generate_token();
    let new = tokens::NewToken { user: owner.id, name, token_hash: &token.hash, token_prefix: &token.prefix, expires_at };
    let issued = tokens::issue(&state.store, &new).await?;
    record(
        &state,
        &admin.username,
        "token.create",
        ("api_token", Some(issued.id.to_string())),
        None,
        Some(serde_json::json!({ "owner": owner.username, "name": name, "prefix": token.prefix, "expires_at": expires_at })),
    )
    .await?;
    let flash = Flash::ok(format!("Created API token {} for {}.", token.prefix, owner.username));
    let secret = context! {
        label => format!("API token “{name}” for {}", owner.username), value => token.token,
        note => "Shown only now: copy it into the client's configuration. It is sent as Authorization: Token …",
    };
    Ok(page(&state, &principal, Some(flash), Some(secret)).await?.into_response())
}

async fn revoke_token(State(state): State<AppState>, AdminOnly(admin): AdminOnly, Path(id): Path<i64>) -> Result<Response, AppError> {
    let token = match tokens::revoke(&state.store, &tokens::TokenRef::Id(id)).await {
        Ok(token) => token,
        Err(StoreError::NotFound(_)) => return Ok(Flash::error(format!("There is no token {id}.")).redirect(BACK)),
        Err(e) => return Err(e.into()),
    };
    record(&state, &admin.username, "token.revoke", ("api_token", Some(id.to_string())), None, Some(serde_json::json!({ "prefix": token.token_prefix }))).await?;
    Ok(Flash::ok(format!("Revoked token {}; it stops working at its next request.", token.token_prefix)).redirect(BACK))
}
