//! `/admin/plugins`: the plugins the bridge can run, uploading a new `.wasm`, its golden fixtures,
//! a preview of what it would change, activating it and rolling back.
//!
//! Uploading checks the file exactly as `plugin check` does (the runtime loads it: a valid component
//! implementing one of our worlds, importing nothing else) before it is kept in the plugins folder;
//! activating runs the same fixture gate as `plugin activate`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use minijinja::context;

use super::super::access::MAX_MULTIPART_BYTES;
use super::super::multipart;
use super::super::view::{Flash, Nav, TakenFlash, frame, render};
use super::super::{AdminOnly, AppError, AppState, Principal};
use super::{record, shown};
use crate::pipeline::process::{self, ProcessError};
use crate::pipeline::{fixture_gate, plugin_config, preview};
use crate::plugins::{PluginKind, Registry};
use crate::store::audit::NewAuditEntry;
use crate::store::settings;

/// The largest `.wasm` accepted (the example plugins are well under 1 MiB).
pub const MAX_PLUGIN_BYTES: usize = 8 << 20;
/// The longest preview window offered, in days.
const MAX_PREVIEW_DAYS: u32 = 62;
const BACK: &str = "/admin/plugins";

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/plugins", get(list))
        .route("/admin/plugins/upload", post(upload).layer(DefaultBodyLimit::max(MAX_MULTIPART_BYTES)))
        .route("/admin/plugins/rollback", post(rollback))
        .route("/admin/plugins/{name}/test", post(test))
        .route("/admin/plugins/{name}/preview", get(preview_page))
        .route("/admin/plugins/{name}/activate", post(activate))
        .route("/admin/plugins/{name}/config", get(config_page).post(save_config))
}

/// The plugin registry with the settings saved on these pages loaded.
async fn registry(state: &AppState) -> Result<Arc<Registry>, AppError> {
    let registry = crate::pipeline::plugin_registry(&state.config).map_err(|e| AppError::Internal(format!("plugin runtime: {e}")))?;
    plugin_config::refresh(&state.store, &registry).await?;
    Ok(registry)
}

/// A plugin name as a file in the plugins folder can carry it.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

async fn list(State(state): State<AppState>, AdminOnly(_): AdminOnly, taken: TakenFlash, Extension(principal): Extension<Principal>) -> Result<impl IntoResponse, AppError> {
    let registry = registry(&state).await?;
    let active = process::active_rules_plugin(&state.store, &state.config).await?;
    let previous = settings::get(&state.store, settings::PREVIOUS_RULES_PLUGIN).await?.filter(|p| *p != active);
    let listed = {
        let registry = Arc::clone(&registry);
        tokio::task::spawn_blocking(move || registry.list()).await.map_err(|e| AppError::Internal(e.to_string()))?
    };
    let plugins: Vec<_> = listed
        .into_iter()
        .map(|(name, loaded)| match loaded {
            Ok(p) => context! {
                name => name.clone(), ok => true, kind => p.kind.to_string(), rules => p.kind == PluginKind::ShiftRules,
                world => p.world().as_str(), interface => p.interface_version.to_string(), version => p.info.version.clone(),
                calls_itself => p.info.name.clone(), builtin => p.source == "built-in",
                source => if p.source == "built-in" { "built-in".to_owned() } else { "uploaded".to_owned() },
                sha => p.sha256.get(..12).unwrap_or_default().to_owned(), sha256 => p.sha256.clone(),
                active => name == active, previous => previous.as_deref() == Some(name.as_str()),
                config => registry.config_for(&name).as_object().filter(|o| !o.is_empty()).map(|o| serde_json::to_string_pretty(o).unwrap_or_default()),
                config_saved => registry.file_config(&name) != Some(&registry.config_for(&name)) && !registry.config_for(&name).is_null(),
            },
            Err(e) => context! { name, ok => false, error => e.to_string() },
        })
        .collect();
    Ok((
        taken.clone(),
        render(
            "web/settings/plugins.html",
            context! {
                plugins, active, previous, max_mb => MAX_PLUGIN_BYTES >> 20, max_days => MAX_PREVIEW_DAYS,
                flash => shown(taken.message()), ..frame(&state, &principal, Nav::Plugins)
            },
        )?,
    ))
}

/// Why an upload is refused, in words for the page.
fn refuse(message: impl Into<String>) -> Response {
    Flash::error(message).redirect(BACK)
}

async fn upload(State(state): State<AppState>, AdminOnly(admin): AdminOnly, headers: HeaderMap, body: Bytes) -> Result<Response, AppError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let Some(boundary) = multipart::boundary(content_type) else {
        return Ok(refuse("Upload the plugin with the form on this page."));
    };
    let parts = multipart::parse(&body, &boundary).map_err(|e| AppError::BadRequest(format!("the upload is malformed: {e}")))?;
    let Some(file) = parts.iter().find(|p| p.name == "file" && !p.data.is_empty()) else {
        return Ok(refuse("Choose a .wasm file to upload."));
    };
    let filename = file.filename.clone().unwrap_or_default();
    let typed = parts.iter().find(|p| p.name == "name").map(|p| String::from_utf8_lossy(p.data).trim().to_owned()).unwrap_or_default();
    let name = if typed.is_empty() { filename.rsplit(['/', '\\']).next().unwrap_or_default().trim_end_matches(".wasm").to_owned() } else { typed };
    if !valid_name(&name) {
        return Ok(refuse(format!("{name:?} cannot be a plugin name: use 1 to 64 lower-case letters, digits, - or _.")));
    }
    if file.data.len() > MAX_PLUGIN_BYTES {
        return Ok(refuse(format!("{filename} is {} KiB; a plugin may be at most {} MiB.", file.data.len() >> 10, MAX_PLUGIN_BYTES >> 20)));
    }
    let bytes = file.data.to_vec();
    let registry = registry(&state).await?;
    // The same check as `plugin check`: the runtime compiles and instantiates it and reads its info.
    let checked = {
        let (registry, name, bytes) = (Arc::clone(&registry), name.clone(), bytes.clone());
        tokio::task::spawn_blocking(move || registry.runtime().load(&name, &bytes, "upload")).await.map_err(|e| AppError::Internal(e.to_string()))?
    };
    let plugin = match checked {
        Ok(plugin) => plugin,
        Err(e) => return Ok(refuse(format!("{filename} was refused and not kept: {e}"))),
    };
    let dir = state.config.plugins_dir();
    let keep = || -> std::io::Result<()> {
        std::fs::create_dir_all(&dir)?;
        let partial = dir.join(format!(".{name}.wasm.upload"));
        std::fs::write(&partial, &bytes)?;
        std::fs::rename(&partial, dir.join(format!("{name}.wasm")))
    };
    keep().map_err(|e| AppError::Internal(format!("cannot write the plugin into {}: {e}", dir.display())))?;
    record(
        &state,
        &admin.username,
        "plugin.upload",
        ("plugin", Some(name.clone())),
        None,
        Some(serde_json::json!({ "file": filename, "sha256": plugin.sha256, "version": plugin.info.version, "world": plugin.world().as_str() })),
    )
    .await?;
    Ok(Flash::ok(format!(
        "Uploaded {name} {} ({} plugin, world {}, sha256 {}). Run its golden fixtures and preview it before activating.",
        plugin.info.version,
        plugin.kind,
        plugin.world().as_str(),
        plugin.sha256.get(..12).unwrap_or_default()
    ))
    .redirect(BACK))
}

async fn test(State(state): State<AppState>, AdminOnly(_): AdminOnly, Path(name): Path<String>) -> Result<Response, AppError> {
    let registry = registry(&state).await?;
    let outcome = tokio::task::spawn_blocking(move || -> Result<fixture_gate::GateReport, String> {
        let plugin = registry.get_kind(&name, PluginKind::ShiftRules).map_err(|e| e.to_string())?;
        fixture_gate::run(&registry, &plugin)
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(match outcome {
        Err(e) => Flash::error(format!("The golden fixtures could not run: {e}")),
        Ok(report) if report.broken.is_empty() => Flash::ok(format!(
            "Golden fixtures: {} run, none broken; {} differ from the standard rules' values (as a site variant may).",
            report.fixtures, report.differing
        )),
        Ok(report) => Flash::error(format!(
            "Golden fixtures: {} of {} broken (first {}: {}); it cannot be activated like this.",
            report.broken.len(),
            report.fixtures,
            report.broken[0].0,
            report.broken[0].1
        )),
    }
    .redirect(BACK))
}

#[derive(Debug, serde::Deserialize)]
struct PreviewQuery {
    days: Option<u32>,
}

async fn preview_page(
    State(state): State<AppState>,
    AdminOnly(_): AdminOnly,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
    Query(query): Query<PreviewQuery>,
) -> Result<Response, AppError> {
    if !valid_name(&name) {
        return Err(AppError::NotFound(format!("plugin {name:?}")));
    }
    let days = query.days.unwrap_or(7).clamp(1, MAX_PREVIEW_DAYS);
    let registry = registry(&state).await?;
    let found = match preview::preview(&state.store, &registry, &state.config, &name, days).await {
        Ok(found) => found,
        Err(ProcessError::Store(e)) => return Err(e.into()),
        Err(e) => return Ok(Flash::error(format!("Cannot preview {name}: {e}")).redirect(BACK)),
    };
    let names = crate::store::employees::names(&state.store, &found.changes.iter().map(|c| c.employee.clone()).collect::<Vec<_>>()).await?;
    let rows: Vec<_> = found
        .changes
        .iter()
        .map(|c| {
            let fields: Vec<_> = c
                .differences
                .iter()
                .map(|d| match d.split_once(": ").and_then(|(f, rest)| rest.split_once(" → ").map(|(b, a)| (f, b, a))) {
                    Some((field, before, after)) => context! { field, before, after },
                    None => context! { field => d.clone() },
                })
                .collect();
            context! {
                employee => c.employee.0.clone(), name => names.get(&c.employee).cloned(), date => c.date.to_string(),
                weekday => c.date.format("%a").to_string(), shift => if c.shift.is_empty() { "unscheduled".to_owned() } else { c.shift.clone() }, fields,
            }
        })
        .collect();
    let failures: Vec<_> = found.failures.iter().map(|(e, error)| context! { employee => e.0.clone(), error => error.clone() }).collect();
    let active = process::active_rules_plugin(&state.store, &state.config).await?;
    Ok(render(
        "web/settings/plugin_preview.html",
        context! {
            plugin => name.clone(), days, employees => found.employees, produced => found.days, changes => rows, changed => found.changes.len(), failures,
            is_active => active == name, active, max_days => MAX_PREVIEW_DAYS, ..frame(&state, &principal, Nav::Plugins)
        },
    )?
    .into_response())
}

/// Makes `name` the rules plugin (as `plugin activate`, without `--force`), audited.
async fn switch_to(state: &AppState, actor: &str, name: &str, action: &str) -> Result<Response, AppError> {
    let registry = registry(state).await?;
    match preview::activate(&state.store, &registry, &state.config, name, false).await {
        Ok((previous, _)) if previous == name => Ok(Flash::info(format!("{name} already is the active shift-rules plugin.")).redirect(BACK)),
        Ok((previous, gate)) => {
            record(state, actor, action, ("plugin", Some(name.to_owned())), Some(serde_json::json!({ "active": previous })), Some(serde_json::json!({ "active": name }))).await?;
            Ok(Flash::ok(format!(
                "{name} is the shift-rules plugin from the next processing run (was {previous}; {} golden fixtures passed). Days already processed keep their results until re-processed.",
                gate.fixtures - gate.broken.len()
            ))
            .redirect(BACK))
        }
        Err(ProcessError::Store(e)) => Err(e.into()),
        Err(e) => Ok(Flash::error(format!("{name} was not activated: {e}")).redirect(BACK)),
    }
}

async fn activate(State(state): State<AppState>, AdminOnly(admin): AdminOnly, Path(name): Path<String>) -> Result<Response, AppError> {
    if !valid_name(&name) {
        return Err(AppError::NotFound(format!("plugin {name:?}")));
    }
    switch_to(&state, &admin.username, &name, "plugin.activate").await
}

async fn rollback(State(state): State<AppState>, AdminOnly(admin): AdminOnly) -> Result<Response, AppError> {
    let active = process::active_rules_plugin(&state.store, &state.config).await?;
    match settings::get(&state.store, settings::PREVIOUS_RULES_PLUGIN).await?.filter(|p| *p != active) {
        Some(previous) => switch_to(&state, &admin.username, &previous, "plugin.rollback").await,
        None => Ok(Flash::info("There is no previous plugin to roll back to.").redirect(BACK)),
    }
}

/// The settings page of one plugin: what the configuration file says, what is saved here, and a
/// form to change it.
async fn config_page(
    State(state): State<AppState>,
    AdminOnly(_): AdminOnly,
    Path(name): Path<String>,
    taken: TakenFlash,
    Extension(principal): Extension<Principal>,
) -> Result<Response, AppError> {
    let registry = registry(&state).await?;
    let plugin = load(&registry, &name).await?;
    let page = config_view(&state, &principal, &registry, &plugin, None, shown(taken.message())).await?;
    Ok((taken, page).into_response())
}

/// The settings form; `typed` is what a refused save brought (shown again, with the reason).
async fn config_view(
    state: &AppState,
    principal: &Principal,
    registry: &Registry,
    plugin: &crate::plugins::runtime::LoadedPlugin,
    typed: Option<String>,
    flash: minijinja::Value,
) -> Result<Response, AppError> {
    let name = plugin.name.clone();
    let (saved, _) = settings::plugin_configs(&state.store).await?;
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let saved = saved.get(&name).map(pretty);
    let file = registry.file_config(&name).map(pretty);
    let page = render(
        "web/settings/plugin_config.html",
        context! {
            name, kind => plugin.kind.to_string(), version => plugin.info.version.clone(),
            text => typed.or_else(|| saved.clone()).or_else(|| file.clone()).unwrap_or_default(),
            saved, file, max_kb => plugin_config::MAX_CONFIG_BYTES >> 10,
            flash, ..frame(state, principal, Nav::Plugins)
        },
    )?;
    Ok(page.into_response())
}

#[derive(Debug, serde::Deserialize)]
struct ConfigForm {
    #[serde(default)]
    config: String,
}

/// Saves a plugin's settings after a trial run with them (or, empty, goes back to the file's). A
/// refused configuration comes back in the form with the reason (422), not lost in a redirect.
async fn save_config(
    State(state): State<AppState>,
    AdminOnly(admin): AdminOnly,
    Path(name): Path<String>,
    Extension(principal): Extension<Principal>,
    axum::Form(form): axum::Form<ConfigForm>,
) -> Result<Response, AppError> {
    let registry = registry(&state).await?;
    let plugin = load(&registry, &name).await?;
    let checked = match plugin_config::parse(&form.config) {
        Ok(config) => {
            let effective = config.clone().or_else(|| registry.file_config(&name).cloned()).unwrap_or(serde_json::Value::Null);
            plugin_config::try_config(&registry, &plugin, effective).await.map(|tried| (config, tried))
        }
        Err(why) => Err(why),
    };
    let (config, tried) = match checked {
        Ok(checked) => checked,
        Err(why) => {
            let flash = shown(Some(Flash::error(format!("The settings were not saved: {why}."))));
            let page = config_view(&state, &principal, &registry, &plugin, Some(form.config), flash).await?;
            return Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    let mut entry = NewAuditEntry::now(&admin.username, "plugin.configure", "plugin", Some(name.clone()));
    entry.old_value = Some(registry.config_for(&name).to_string());
    entry.new_value = Some(config.clone().unwrap_or(serde_json::Value::Null).to_string());
    settings::set_plugin_config(&state.store, &name, config.as_ref(), &entry).await?;
    let saved = if config.is_some() { "Settings saved" } else { "Saved settings removed; the configuration file's apply again" };
    let rules_note = if plugin.kind == PluginKind::ShiftRules { " Days already processed keep their results until re-processed." } else { "" };
    Ok(Flash::ok(format!("{saved} for {name} ({tried}). They apply from the next run.{rules_note}")).redirect(&format!("/admin/plugins/{name}/config")))
}

/// Plugin `name`, or 404.
async fn load(registry: &Arc<Registry>, name: &str) -> Result<Arc<crate::plugins::runtime::LoadedPlugin>, AppError> {
    if !valid_name(name) {
        return Err(AppError::NotFound(format!("plugin {name:?}")));
    }
    let (registry, owned) = (Arc::clone(registry), name.to_owned());
    tokio::task::spawn_blocking(move || registry.get(&owned))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
        .map_err(|e| match e {
            crate::plugins::PluginError::NotFound(_) => AppError::NotFound(format!("plugin {name:?}")),
            other => AppError::BadRequest(format!("plugin {name} cannot be loaded: {other}")),
        })
}
