//! `/admin/devices…`: the time clocks, their health, their settings, and the actions an operator
//! takes on one (test the connection, poll now, set the clock, approve a push terminal).
//!
//! Settings change through `store::corrections::update_device` and `store::devices` as the API
//! changes them, each audited; a poll is an `on_demand` run like `POST /api/devices/{id}/poll/`;
//! the connection test is the diagnosis `test-device` prints. The comm key is never shown back.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use chrono::{NaiveDateTime, TimeDelta, Utc};
use minijinja::context;
use serde::Deserialize;

use super::{shown, start};
use crate::device::push::PushCommand;
use crate::pipeline::on_demand::{self, Action};
use crate::store::StoreError;
use crate::store::audit::{self, NewAuditEntry};
use crate::store::corrections::{self, DeviceChange, device_json};
use crate::store::device_commands::{self, CommandStatus};
use crate::store::devices::{self, Approval, Device, NewDevice, Transport};
use crate::web::auth::Principal;
use crate::web::view::{Flash, Nav, TakenFlash, frame, render};
use crate::web::{AdminOnly, AppError, AppState};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/devices", get(list))
        .route("/admin/devices/new", get(new_form).post(create))
        .route("/admin/devices/{id}", get(one))
        .route("/admin/devices/{id}/edit", get(edit_form).post(edit))
        .route("/admin/devices/{id}/test", post(test))
        .route("/admin/devices/{id}/poll", post(poll))
        .route("/admin/devices/{id}/set-clock", post(set_clock))
        .route("/admin/devices/{id}/enable", post(enable))
        .route("/admin/devices/{id}/disable", post(disable))
        .route("/admin/devices/{id}/remove", post(remove))
        .route("/admin/devices/{id}/approve", post(approve))
        .route("/admin/devices/{id}/reject", post(reject))
}

/// How a device looks on the list: whether it answers, and how it delivers.
fn health(device: &Device, now: NaiveDateTime, interval_minutes: u32) -> (&'static str, &'static str) {
    if !device.approved {
        return ("awaiting approval", "info");
    }
    if !device.enabled {
        return ("disabled", "");
    }
    let last = device.last_sync_at.max(device.last_seen_at);
    let Some(last) = last else {
        return ("never contacted", "warn");
    };
    if device.last_error.is_some() && device.transport == Transport::Pull {
        return ("failing", "bad");
    }
    // Two missed intervals (at least ten minutes: push terminals call in every few) is offline.
    let grace = TimeDelta::minutes(i64::from(interval_minutes.max(1)) * 2).max(TimeDelta::minutes(10));
    if now - last <= grace { ("online", "ok") } else { ("offline", "bad") }
}

fn mode(device: &Device) -> &'static str {
    match (device.transport, device.live_mode) {
        (Transport::Push, _) => "push",
        (Transport::Pull, true) => "live",
        (Transport::Pull, false) => "polled",
    }
}

fn row(state: &AppState, device: &Device, now: NaiveDateTime) -> minijinja::Value {
    let zone = state.config.display_zone();
    let (health, tone) = health(device, now, state.config.devices.polling_interval_minutes);
    context! {
        id => device.id.0,
        name => device.name.clone(),
        address => device.address.as_ref().map(|a| format!("{a}:{}", device.port)),
        serial => device.serial_number.clone(),
        mode => mode(device),
        health, tone,
        enabled => device.enabled,
        approved => device.approved,
        transport => if device.transport == Transport::Push { "push" } else { "pull" },
        last_contact => shown(device.last_sync_at.max(device.last_seen_at), zone),
        last_download => shown(device.last_sync_at, zone),
        last_error => device.last_error.clone(),
        drift => device.clock_offset_s,
        time_zone => device.time_zone.clone(),
        comm_key_set => device.comm_key != 0,
        live_mode => device.live_mode,
        last_peer => device.last_push_peer.clone(),
        created => shown(Some(device.created_at), zone),
    }
}

/// `GET /admin/devices`: every device with its health, and the terminals waiting for approval.
async fn list(_: AdminOnly, State(state): State<AppState>, Extension(principal): Extension<Principal>, taken: TakenFlash) -> Result<Response, AppError> {
    let now = Utc::now().naive_utc();
    let all = devices::list(&state.store).await?;
    let (approved, pending): (Vec<_>, Vec<_>) = all.iter().partition(|d| d.approved);
    let rows: Vec<_> = approved.iter().map(|d| row(&state, d, now)).collect();
    let pending: Vec<_> = pending.iter().map(|d| row(&state, d, now)).collect();
    let online = rows.iter().filter(|r| r.get_attr("health").is_ok_and(|h| h.as_str() == Some("online"))).count();
    let problems = rows.iter().filter(|r| r.get_attr("tone").is_ok_and(|h| h.as_str() == Some("bad"))).count();
    let page = render(
        "web/admin/devices.html",
        context! {
            devices => rows, pending, online, problems,
            zone => state.config.display_zone().name(),
            interval => state.config.devices.polling_interval_minutes,
            flash => minijinja::value::Serde(taken.message()),
            ..frame(&state, &principal, Nav::Devices)
        },
    )?;
    Ok((taken, page).into_response())
}

/// The device named by a path segment, or 404.
async fn device(state: &AppState, raw: &str) -> Result<Device, AppError> {
    let id = raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| AppError::NotFound(format!("device {raw:?}")))?;
    devices::get(&state.store, crate::domain::DeviceId(id)).await.map_err(|e| match e {
        StoreError::NotFound(_) => AppError::NotFound(format!("device {id}")),
        other => other.into(),
    })
}

/// What the device page shows beside the device itself.
#[derive(Default)]
struct Extras {
    test: Option<minijinja::Value>,
}

async fn device_page(state: &AppState, principal: &Principal, device: &Device, extras: Extras, flash: Option<Flash>) -> Result<Html<String>, AppError> {
    let zone = state.config.display_zone();
    let commands: Vec<_> = if device.transport == Transport::Push {
        device_commands::list(&state.store, device.id)
            .await?
            .into_iter()
            .rev()
            .take(50)
            .map(|c| {
                context! {
                    id => c.id, command => c.command, status => c.status.as_str(),
                    tone => match c.status {
                        CommandStatus::Done => "ok",
                        CommandStatus::Failed => "bad",
                        CommandStatus::Sent => "info",
                        CommandStatus::Pending => "",
                    },
                    return_code => c.return_code, result => c.result,
                    queued => shown(Some(c.created_at), zone), sent => shown(c.sent_at, zone), done => shown(c.done_at, zone),
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    render(
        "web/admin/device.html",
        context! {
            device => row(state, device, Utc::now().naive_utc()),
            commands,
            test => extras.test,
            zone => zone.name(),
            flash => minijinja::value::Serde(flash),
            ..frame(state, principal, Nav::Devices)
        },
    )
}

/// `GET /admin/devices/{id}`.
async fn one(_: AdminOnly, State(state): State<AppState>, Extension(principal): Extension<Principal>, Path(id): Path<String>, taken: TakenFlash) -> Result<Response, AppError> {
    let device = device(&state, &id).await?;
    let page = device_page(&state, &principal, &device, Extras::default(), taken.message()).await?;
    Ok((taken, page).into_response())
}

/// The device form as posted: text as typed, so a refused form shows it again.
#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
struct DeviceForm {
    name: String,
    address: String,
    port: String,
    comm_key: String,
    time_zone: String,
    live_mode: Option<String>,
    enabled: Option<String>,
}

/// A checked form: what to store, or each field's problem.
struct Checked {
    name: String,
    address: String,
    port: u16,
    comm_key: Option<u32>,
    time_zone: Option<String>,
    live_mode: bool,
    enabled: bool,
}

fn is_host(s: &str) -> bool {
    s.parse::<std::net::IpAddr>().is_ok()
        || (!s.is_empty() && s.len() <= 253 && s.split('.').all(|l| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')))
}

fn check(form: &DeviceForm, default_port: u16) -> Result<Checked, BTreeMap<&'static str, String>> {
    let mut errors = BTreeMap::new();
    let name = form.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        errors.insert("name", "Give the device a name people recognise (1 to 100 characters).".to_owned());
    }
    let address = form.address.trim();
    if !is_host(address) {
        errors.insert("address", "Not an IP address or host name.".to_owned());
    }
    let port = match form.port.trim() {
        "" => Some(default_port),
        p => p.parse::<u16>().ok().filter(|p| *p > 0),
    };
    if port.is_none() {
        errors.insert("port", "Not a port (1 to 65535).".to_owned());
    }
    let comm_key = match form.comm_key.trim() {
        "" => None,
        k => match k.parse::<u32>().ok().filter(|k| *k <= 999_999) {
            Some(k) => Some(k),
            None => {
                errors.insert("comm_key", "Not a comm key (a number from 0 to 999999).".to_owned());
                None
            }
        },
    };
    let time_zone = match form.time_zone.trim() {
        "" => None,
        z if z.parse::<chrono_tz::Tz>().is_ok() => Some(z.to_owned()),
        _ => {
            errors.insert("time_zone", "Not an IANA time zone (for example Africa/Nairobi); leave empty for the site's.".to_owned());
            None
        }
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Checked {
        name: name.to_owned(),
        address: address.to_owned(),
        port: port.unwrap_or(default_port),
        comm_key,
        time_zone,
        live_mode: form.live_mode.is_some(),
        enabled: form.enabled.is_some(),
    })
}

fn form_page(state: &AppState, principal: &Principal, editing: Option<&Device>, form: &DeviceForm, errors: &BTreeMap<&str, String>) -> Result<Html<String>, AppError> {
    render(
        "web/admin/device_form.html",
        context! {
            editing => editing.map(|d| context! { id => d.id.0, name => d.name.clone(), comm_key_set => d.comm_key != 0 }),
            form => minijinja::value::Serde(form),
            errors => errors.iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<BTreeMap<_, _>>(),
            default_port => state.config.devices.default_port,
            site_zone => state.config.time_zone.0.name(),
            ..frame(state, principal, Nav::Devices)
        },
    )
}

/// `GET /admin/devices/new`.
async fn new_form(_: AdminOnly, State(state): State<AppState>, Extension(principal): Extension<Principal>) -> Result<Html<String>, AppError> {
    let form = DeviceForm { port: state.config.devices.default_port.to_string(), enabled: Some("on".into()), ..DeviceForm::default() };
    form_page(&state, &principal, None, &form, &BTreeMap::new())
}

/// A refused form: the page again, with the values and the problems, and status 400.
fn refused(page: Result<Html<String>, AppError>) -> Result<Response, AppError> {
    Ok((axum::http::StatusCode::BAD_REQUEST, page?).into_response())
}

/// `POST /admin/devices/new`: registers a polled device (push terminals register themselves).
async fn create(AdminOnly(user): AdminOnly, State(state): State<AppState>, Extension(principal): Extension<Principal>, Form(form): Form<DeviceForm>) -> Result<Response, AppError> {
    let checked = match check(&form, state.config.devices.default_port) {
        Ok(c) => c,
        Err(errors) => return refused(form_page(&state, &principal, None, &form, &errors)),
    };
    let mut new = NewDevice::pull(&checked.name, &checked.address, checked.port, checked.comm_key.unwrap_or(0));
    new.time_zone = checked.time_zone.clone();
    let mut created = match devices::insert(&state.store, &new).await {
        Ok(d) => d,
        Err(StoreError::AlreadyExists(_)) => {
            let errors = BTreeMap::from([("name", "Another device already has this name.".to_owned())]);
            return refused(form_page(&state, &principal, None, &form, &errors));
        }
        Err(e) => return Err(e.into()),
    };
    if !checked.enabled {
        devices::set_enabled(&state.store, created.id, false).await?;
        created.enabled = false;
    }
    if checked.live_mode {
        devices::set_live_mode(&state.store, created.id, true).await?;
        created.live_mode = true;
    }
    let mut entry = NewAuditEntry::now(&user.username, "device.create", "device", Some(created.id.0.to_string()));
    entry.new_value = Some(device_json(&created).to_string());
    audit::record_alone(&state.store, &entry).await?;
    Ok(Flash::ok(format!("Device “{}” added. Test the connection to check it answers.", created.name)).redirect(&format!("/admin/devices/{}", created.id.0)))
}

/// `GET /admin/devices/{id}/edit`.
async fn edit_form(_: AdminOnly, State(state): State<AppState>, Extension(principal): Extension<Principal>, Path(id): Path<String>) -> Result<Html<String>, AppError> {
    let device = device(&state, &id).await?;
    let form = DeviceForm {
        name: device.name.clone(),
        address: device.address.clone().unwrap_or_default(),
        port: device.port.to_string(),
        comm_key: String::new(),
        time_zone: device.time_zone.clone().unwrap_or_default(),
        live_mode: device.live_mode.then(|| "on".into()),
        enabled: device.enabled.then(|| "on".into()),
    };
    form_page(&state, &principal, Some(&device), &form, &BTreeMap::new())
}

/// `POST /admin/devices/{id}/edit`: the settings (an empty comm key keeps the stored one).
async fn edit(AdminOnly(user): AdminOnly, State(state): State<AppState>, Extension(principal): Extension<Principal>, Path(id): Path<String>, Form(form): Form<DeviceForm>) -> Result<Response, AppError> {
    let device = device(&state, &id).await?;
    if device.transport == Transport::Push {
        return Err(AppError::Conflict("push terminals are approved, not edited here".into()));
    }
    let checked = match check(&form, state.config.devices.default_port) {
        Ok(c) => c,
        Err(errors) => return refused(form_page(&state, &principal, Some(&device), &form, &errors)),
    };
    let change = DeviceChange {
        name: Some(checked.name),
        address: Some(Some(checked.address)),
        port: Some(checked.port),
        comm_key: checked.comm_key,
        enabled: Some(checked.enabled),
        time_zone: Some(checked.time_zone),
    };
    let updated = match corrections::update_device(&state.store, device.id, &change, &user.username).await {
        Ok(d) => d,
        Err(StoreError::AlreadyExists(_)) => {
            let errors = BTreeMap::from([("name", "Another device already has this name.".to_owned())]);
            return refused(form_page(&state, &principal, Some(&device), &form, &errors));
        }
        Err(e) => return Err(e.into()),
    };
    if updated.live_mode != checked.live_mode {
        devices::set_live_mode(&state.store, device.id, checked.live_mode).await?;
        let mut entry = NewAuditEntry::now(&user.username, "device.live_mode", "device", Some(device.id.0.to_string()));
        entry.old_value = Some(serde_json::json!({ "live_mode": updated.live_mode }).to_string());
        entry.new_value = Some(serde_json::json!({ "live_mode": checked.live_mode }).to_string());
        audit::record_alone(&state.store, &entry).await?;
    }
    Ok(Flash::ok("Settings saved.").redirect(&format!("/admin/devices/{}", device.id.0)))
}

/// `POST /admin/devices/{id}/test`: connects and reads the device's information and clock, and
/// shows the result (or the diagnosis) on the device page. Reads only: nothing is audited.
async fn test(_: AdminOnly, State(state): State<AppState>, Extension(principal): Extension<Principal>, Path(id): Path<String>) -> Result<Html<String>, AppError> {
    let device = device(&state, &id).await?;
    let test = match on_demand::device_info(&device, device.zone(state.config.time_zone.0), Duration::from_secs(5)).await {
        Ok(info) => context! { ok => true, info => minijinja::value::Serde(&info) },
        Err(diagnosis) => context! { ok => false, diagnosis },
    };
    device_page(&state, &principal, &device, Extras { test: Some(test) }, None).await
}

/// `POST /admin/devices/{id}/poll`: a download in the background, as `POST /api/devices/{id}/poll/`.
async fn poll(AdminOnly(user): AdminOnly, State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, AppError> {
    let device = device(&state, &id).await?;
    if device.transport == Transport::Push {
        return Ok(Flash::info("This terminal pushes its punches as they happen; there is nothing to poll.").redirect(&format!("/admin/devices/{}", device.id.0)));
    }
    let run = start(&state, &user, Action::Poll(Some(device.id))).await?;
    let text = if run.joined { "A download from this device was already running; its run is shown in Jobs." } else { "Download started; the punches appear under Raw punches as they arrive." };
    Ok(Flash::ok(text).redirect(&format!("/admin/devices/{}", device.id.0)))
}

/// `POST /admin/devices/{id}/set-clock`: sets a polled device's clock now (as `devices set-time`),
/// or queues the command for a push terminal's next call.
async fn set_clock(AdminOnly(user): AdminOnly, State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, AppError> {
    let device = device(&state, &id).await?;
    let back = format!("/admin/devices/{}", device.id.0);
    let mut entry = NewAuditEntry::now(&user.username, "device.set_time", "device", Some(device.id.0.to_string()));
    let flash = if device.transport == Transport::Push {
        let zone = device.zone(state.config.time_zone.0);
        let command = PushCommand::SetTime(Utc::now().with_timezone(&zone).naive_local());
        let queued = crate::pipeline::push::queue_command(&state.store, device.id, &command).await?;
        entry.new_value = Some(serde_json::json!({ "queued_command": queued }).to_string());
        Flash::ok("Clock setting queued: the terminal gets it at its next call.")
    } else {
        match crate::pipeline::poll::set_clock(&device, state.config.time_zone.0, Duration::from_secs(10)).await {
            Ok((before, after)) => {
                entry.old_value = Some(serde_json::json!({ "clock_offset_s": before }).to_string());
                entry.new_value = Some(serde_json::json!({ "clock_offset_s": after }).to_string());
                Flash::ok(format!("Clock set: it was {before:+} s off, now {after:+} s."))
            }
            Err(e) => return Ok(Flash::error(format!("The clock could not be set: {e}")).redirect(&back)),
        }
    };
    audit::record_alone(&state.store, &entry).await?;
    Ok(flash.redirect(&back))
}

async fn switch(user: &str, state: &AppState, id: &str, enabled: bool) -> Result<Response, AppError> {
    let device = device(state, id).await?;
    let change = DeviceChange { enabled: Some(enabled), ..DeviceChange::default() };
    corrections::update_device(&state.store, device.id, &change, user).await?;
    let text = if enabled { format!("“{}” enabled.", device.name) } else { format!("“{}” disabled: it is no longer polled.", device.name) };
    Ok(Flash::ok(text).redirect(&format!("/admin/devices/{}", device.id.0)))
}

/// `POST /admin/devices/{id}/enable`.
async fn enable(AdminOnly(user): AdminOnly, State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, AppError> {
    switch(&user.username, &state, &id, true).await
}

/// `POST /admin/devices/{id}/disable`.
async fn disable(AdminOnly(user): AdminOnly, State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, AppError> {
    switch(&user.username, &state, &id, false).await
}

/// Removes a device without punches (a device with history is only disabled: no punch loses its source).
async fn remove_device(state: &AppState, user: &str, device: &Device, action: &str) -> Result<Result<(), String>, AppError> {
    match devices::remove(&state.store, device.id).await {
        Ok(()) => {
            let mut entry = NewAuditEntry::now(user, action, "device", Some(device.id.0.to_string()));
            entry.old_value = Some(device_json(device).to_string());
            audit::record_alone(&state.store, &entry).await?;
            Ok(Ok(()))
        }
        Err(StoreError::Invalid(message)) => Ok(Err(message)),
        Err(e) => Err(e.into()),
    }
}

/// `POST /admin/devices/{id}/remove`.
async fn remove(AdminOnly(user): AdminOnly, State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, AppError> {
    let device = device(&state, &id).await?;
    match remove_device(&state, &user.username, &device, "device.delete").await? {
        Ok(()) => Ok(Flash::ok(format!("“{}” removed.", device.name)).redirect("/admin/devices")),
        Err(why) => Ok(Flash::error(format!("Not removed: {why}.")).redirect(&format!("/admin/devices/{}", device.id.0))),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ApproveForm {
    name: String,
}

/// `POST /admin/devices/{id}/approve` with an optional new name: lets a push terminal's data in.
async fn approve(AdminOnly(user): AdminOnly, State(state): State<AppState>, Path(id): Path<String>, Form(form): Form<ApproveForm>) -> Result<Response, AppError> {
    let before = device(&state, &id).await?;
    let Some(serial) = before.serial_number.clone().filter(|_| before.transport == Transport::Push) else {
        return Ok(Flash::error("Only push terminals are approved.").redirect("/admin/devices"));
    };
    let name = Some(form.name.trim().to_owned()).filter(|n| !n.is_empty());
    if name.as_ref().is_some_and(|n| n.chars().count() > 100) {
        return Ok(Flash::error("The name is longer than 100 characters.").redirect("/admin/devices"));
    }
    let approved = match devices::approve_with(&state.store, &serial, &Approval { name, bind: None }).await {
        Ok(d) => d,
        Err(StoreError::AlreadyExists(what)) => return Ok(Flash::error(format!("Not approved: {what} already exists.")).redirect("/admin/devices")),
        Err(e) => return Err(e.into()),
    };
    let mut entry = NewAuditEntry::now(&user.username, "device.approve", "device", Some(approved.id.0.to_string()));
    entry.old_value = Some(device_json(&before).to_string());
    entry.new_value = Some(device_json(&approved).to_string());
    audit::record_alone(&state.store, &entry).await?;
    Ok(Flash::ok(format!("Terminal {serial} approved as “{}”: its punches are processed from now on.", approved.name)).redirect("/admin/devices"))
}

/// `POST /admin/devices/{id}/reject`: forgets a terminal awaiting approval (one that already sent
/// punches is kept, unapproved, so nothing it sent is lost).
async fn reject(AdminOnly(user): AdminOnly, State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, AppError> {
    let device = device(&state, &id).await?;
    if device.approved {
        return Ok(Flash::error("Only terminals awaiting approval are rejected; disable an approved one.").redirect("/admin/devices"));
    }
    match remove_device(&state, &user.username, &device, "device.reject").await? {
        Ok(()) => Ok(Flash::ok(format!("Terminal {} rejected.", device.serial_number.unwrap_or_default())).redirect("/admin/devices")),
        Err(why) => Ok(Flash::error(format!("Kept unapproved: {why}.")).redirect("/admin/devices")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(name: &str, address: &str, port: &str, key: &str, zone: &str) -> DeviceForm {
        DeviceForm { name: name.into(), address: address.into(), port: port.into(), comm_key: key.into(), time_zone: zone.into(), ..DeviceForm::default() }
    }

    #[test]
    fn a_good_form_passes_and_an_empty_key_keeps_the_stored_one() {
        let checked = check(&form(" Gate ", "127.0.0.1", "", "", "Africa/Nairobi"), 4370).map_err(|e| format!("{e:?}")).expect("valid");
        assert_eq!((checked.name.as_str(), checked.port, checked.comm_key), ("Gate", 4370, None));
        assert_eq!(checked.time_zone.as_deref(), Some("Africa/Nairobi"));
    }

    #[test]
    fn each_bad_field_is_named() {
        let Err(errors) = check(&form("", "not a host!", "70000", "abc", "Mars/Base"), 4370) else { panic!("refused") };
        assert_eq!(errors.keys().copied().collect::<Vec<_>>(), vec!["address", "comm_key", "name", "port", "time_zone"]);
    }

    #[test]
    fn health_follows_the_last_contact() {
        let now = Utc::now().naive_utc();
        let mut d = Device {
            id: crate::domain::DeviceId(1),
            name: "A".into(),
            address: Some("127.0.0.1".into()),
            port: 4370,
            comm_key: 0,
            serial_number: None,
            enabled: true,
            time_zone: None,
            last_sync_at: None,
            last_error: None,
            created_at: now,
            updated_at: now,
            poll_lease_owner: None,
            poll_lease_until: None,
            watermark_at: None,
            clock_offset_s: None,
            live_mode: false,
            transport: Transport::Pull,
            approved: true,
            attlog_stamp: None,
            operlog_stamp: None,
            last_seen_at: None,
            log_count: None,
            log_tail: None,
            live_lease_owner: None,
            live_lease_until: None,
            push_bound_network: None,
            push_secret_hash: None,
            last_push_peer: None,
            secondary_address: None,
            answered_address: None,
        };
        assert_eq!(health(&d, now, 15).0, "never contacted");
        d.last_sync_at = Some(now - TimeDelta::minutes(20));
        assert_eq!(health(&d, now, 15).0, "online");
        d.last_sync_at = Some(now - TimeDelta::minutes(31));
        assert_eq!(health(&d, now, 15).0, "offline");
        d.last_error = Some("timeout".into());
        assert_eq!(health(&d, now, 15).0, "failing");
        d.enabled = false;
        assert_eq!(health(&d, now, 15).0, "disabled");
    }
}
