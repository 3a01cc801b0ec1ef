//! Table definitions shared by both backends (the migrations under `migrations/` keep the columns equal).

diesel::table! {
    devices (id) {
        id -> BigInt,
        name -> Text,
        address -> Nullable<Text>,
        port -> Integer,
        comm_key -> Integer,
        serial_number -> Nullable<Text>,
        enabled -> Bool,
        time_zone -> Nullable<Text>,
        last_sync_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        poll_lease_owner -> Nullable<Text>,
        poll_lease_until -> Nullable<Timestamp>,
        watermark_at -> Nullable<Timestamp>,
        clock_offset_s -> Nullable<Integer>,
        live_mode -> Bool,
        transport -> Text,
        approved -> Bool,
        attlog_stamp -> Nullable<Text>,
        operlog_stamp -> Nullable<Text>,
        last_seen_at -> Nullable<Timestamp>,
        log_count -> Nullable<Integer>,
        log_tail -> Nullable<Text>,
        live_lease_owner -> Nullable<Text>,
        live_lease_until -> Nullable<Timestamp>,
        push_bound_network -> Nullable<Text>,
        push_secret_hash -> Nullable<Text>,
        last_push_peer -> Nullable<Text>,
        secondary_address -> Nullable<Text>,
        answered_address -> Nullable<Text>,
    }
}

diesel::table! {
    device_commands (id) {
        id -> BigInt,
        device_id -> BigInt,
        command -> Text,
        status -> Text,
        return_code -> Nullable<Integer>,
        result -> Nullable<Text>,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
        done_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    raw_punches (id) {
        id -> BigInt,
        device_id -> BigInt,
        device_user_id -> Text,
        local_time -> Timestamp,
        utc_time -> Timestamp,
        status -> Integer,
        punch_state -> Integer,
        verify_type -> Integer,
        device_seq -> Nullable<BigInt>,
        received_at -> Timestamp,
    }
}

diesel::table! {
    processed_attendance (id) {
        id -> BigInt,
        user_id -> Text,
        work_date -> Date,
        shift_code -> Text,
        status -> Text,
        clock_in_local -> Nullable<Timestamp>,
        clock_in_utc -> Nullable<Timestamp>,
        clock_out_local -> Nullable<Timestamp>,
        clock_out_utc -> Nullable<Timestamp>,
        worked_min -> Nullable<Integer>,
        break_min -> Nullable<Integer>,
        payable_min -> Nullable<Integer>,
        scheduled_min -> Nullable<Integer>,
        overtime_min -> Nullable<Integer>,
        late_min -> Nullable<Integer>,
        early_min -> Nullable<Integer>,
        duplicates -> Integer,
        flags -> Text,
        is_final -> Bool,
        reason -> Nullable<Text>,
        revision -> Integer,
        rule_plugin -> Text,
        rule_version -> Text,
        manual_override -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        password_hash -> Text,
        is_superuser -> Bool,
        is_active -> Bool,
        created_at -> Timestamp,
        last_login_at -> Nullable<Timestamp>,
        role -> Text,
    }
}

diesel::table! {
    sessions (id) {
        id -> BigInt,
        id_hash -> Text,
        user_id -> BigInt,
        csrf_token -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
        client_addr -> Nullable<Text>,
        user_agent -> Nullable<Text>,
    }
}

diesel::table! {
    login_failures (id) {
        id -> BigInt,
        scope -> Text,
        subject -> Text,
        failed_at -> Timestamp,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> BigInt,
        user_id -> BigInt,
        name -> Text,
        token_hash -> Text,
        token_prefix -> Text,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        expires_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    job_schedules (name) {
        name -> Text,
        interval_seconds -> Nullable<Integer>,
        daily_at -> Nullable<Text>,
        paused -> Bool,
        next_run_at -> Nullable<Timestamp>,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    job_runs (id) {
        id -> BigInt,
        job_name -> Text,
        instance -> Text,
        started_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        outcome -> Text,
        counts -> Text,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    employees (id) {
        id -> BigInt,
        employee_code -> Text,
        name -> Nullable<Text>,
        default_shift -> Nullable<Text>,
        weekly_shift -> Nullable<Text>,
        weekly_days -> Text,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    shift_templates (code) {
        code -> Text,
        name -> Text,
        start_time -> Text,
        end_time -> Text,
        early_in_window_min -> Integer,
        late_out_window_min -> Integer,
        late_in_outlier_min -> Integer,
        early_out_outlier_min -> Integer,
        late_grace_min -> Integer,
        early_grace_min -> Integer,
        dedup_window_s -> Integer,
        min_span_min -> Integer,
        overtime_min_min -> Integer,
        absent_below_min -> Integer,
        half_day_below_min -> Integer,
        rounding_interval_min -> Nullable<Integer>,
        rounding_mode -> Nullable<Text>,
        settle_min -> Integer,
        unscheduled_day_boundary -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    roster_entries (employee_code, work_date) {
        employee_code -> Text,
        work_date -> Date,
        shift_code -> Nullable<Text>,
    }
}

diesel::table! {
    holidays (holiday_date) {
        holiday_date -> Date,
        name -> Text,
    }
}

diesel::table! {
    pending_days (employee_code, work_date) {
        employee_code -> Text,
        work_date -> Date,
        marked_at -> Timestamp,
        attempts -> Integer,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    crm_outbox (id) {
        id -> BigInt,
        attendance_id -> BigInt,
        revision -> Integer,
        idempotency_key -> Text,
        body -> Nullable<Text>,
        headers -> Nullable<Text>,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
        last_status -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        crm_id -> Nullable<Text>,
        created_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    settings (key) {
        key -> Text,
        value -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    alert_states (alert_key) {
        alert_key -> Text,
        active -> Bool,
        started_at -> Nullable<Timestamp>,
        ended_at -> Nullable<Timestamp>,
        detail -> Nullable<Text>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    report_subscriptions (id) {
        id -> BigInt,
        report -> Text,
        recipients -> Text,
        created_at -> Timestamp,
        created_by -> Text,
    }
}

diesel::table! {
    report_sends (subscription_id, period) {
        subscription_id -> BigInt,
        period -> Text,
        instance -> Text,
        claimed_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
        error -> Nullable<Text>,
    }
}

diesel::joinable!(raw_punches -> devices (device_id));
diesel::joinable!(crm_outbox -> processed_attendance (attendance_id));
diesel::joinable!(device_commands -> devices (device_id));
diesel::joinable!(api_tokens -> users (user_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(report_sends -> report_subscriptions (subscription_id));
diesel::allow_tables_to_appear_in_same_query!(
    devices,
    raw_punches,
    processed_attendance,
    users,
    api_tokens,
    job_schedules,
    job_runs,
    employees,
    shift_templates,
    roster_entries,
    holidays,
    device_commands,
    pending_days,
    crm_outbox,
    settings,
    sessions,
    login_failures,
    alert_states,
    report_subscriptions,
    report_sends,
);
