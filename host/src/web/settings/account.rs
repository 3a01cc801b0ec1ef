//! `/account`: any signed-in user's own page: who they are, and changing their password (the
//! current one is required, so an unattended signed-in browser cannot take the account over).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use minijinja::context;

use super::super::view::{Flash, Nav, TakenFlash, frame, render};
use super::super::{AppError, AppState, Principal};
use super::{local, record, shown};
use crate::auth;
use crate::store::users;

/// Where the password form posts; a viewer may post here (see `access::VIEWER_MAY_CHANGE`).
const PASSWORD_PATH: &str = "/account/password";

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/account", get(show)).route(PASSWORD_PATH, post(change_password))
}

async fn show(State(state): State<AppState>, taken: TakenFlash, Extension(principal): Extension<Principal>) -> Result<impl IntoResponse, AppError> {
    let user = &principal.user;
    let html = render(
        "web/settings/account.html",
        context! {
            account => context! {
                username => user.username.clone(), role => user.role.as_str(), created => local(&state, user.created_at),
                last_login => user.last_login_at.map(|t| local(&state, t)),
            },
            flash => shown(taken.message()), ..frame(&state, &principal, Nav::Account)
        },
    )?;
    Ok((taken, html))
}

#[derive(Debug, serde::Deserialize)]
struct PasswordForm {
    current: String,
    new: String,
    confirm: String,
}

async fn change_password(State(state): State<AppState>, Extension(principal): Extension<Principal>, Form(form): Form<PasswordForm>) -> Result<Response, AppError> {
    let user = principal.user.clone();
    if form.new != form.confirm {
        return Ok(Flash::error("The new password and its confirmation differ.").redirect("/account"));
    }
    let stored = user.password_hash.clone();
    let checked = tokio::task::spawn_blocking(move || {
        if !auth::verify_password(&form.current, &stored) {
            return Err("The current password is not right.".to_owned());
        }
        auth::hash_password(&form.new).map_err(|e| format!("Not changed: {e}."))
    })
    .await
    .map_err(|e| AppError::Internal(format!("password hashing task: {e}")))?;
    let hashed = match checked {
        Ok(hashed) => hashed,
        Err(message) => return Ok(Flash::error(message).redirect("/account")),
    };
    users::set_password_hash(&state.store, user.id, &hashed).await?;
    record(&state, &user.username, "user.password_change", ("user", Some(user.username.clone())), None, None).await?;
    Ok(Flash::ok("Your password is changed.").redirect("/account"))
}
