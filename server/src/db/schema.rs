//! The tables, as diesel sees them. Kept by hand in step with `migrations/`.

diesel::table! {
    users (id) {
        id -> Int8,
        username -> Text,
        password_hash -> Text,
        is_admin -> Bool,
        disabled -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        password_changed_at -> Timestamptz,
        last_login_at -> Nullable<Timestamptz>,
        default_node_id -> Nullable<Int8>,
    }
}

diesel::table! {
    app_meta (key) {
        key -> Text,
        value -> Bytea,
    }
}

diesel::table! {
    nodes (id) {
        id -> Int8,
        owner_id -> Int8,
        name -> Text,
        host -> Text,
        port -> Int4,
        is_cluster -> Bool,
        fingerprint -> Text,
        token_id -> Text,
        token_secret -> Bytea,
        ssh_user -> Text,
        ssh_port -> Int4,
        ssh_host_key -> Nullable<Text>,
        is_lab -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        ssh_key -> Nullable<Bytea>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Int8,
        at -> Timestamptz,
        actor_id -> Nullable<Int8>,
        actor_name -> Nullable<Text>,
        action -> Text,
        target -> Nullable<Text>,
        source_ip -> Nullable<Text>,
        outcome -> Text,
        detail -> Jsonb,
    }
}

diesel::table! {
    templates (id) {
        id -> Int8,
        slug -> Text,
        source -> Text,
        root -> Nullable<Text>,
        app -> Text,
        description -> Text,
        tags -> Array<Text>,
        model -> Jsonb,
        findings -> Jsonb,
        error_count -> Int4,
        warning_count -> Int4,
        content_hash -> Nullable<Text>,
        status -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        synced_at -> Nullable<Timestamptz>,
        owner_id -> Nullable<Int8>,
    }
}

diesel::table! {
    template_sync_runs (id) {
        id -> Int8,
        started_at -> Timestamptz,
        finished_at -> Timestamptz,
        added -> Int4,
        updated -> Int4,
        missing -> Int4,
        unchanged -> Int4,
        errors -> Jsonb,
    }
}

diesel::table! {
    package_buckets (id) {
        id -> Int8,
        name -> Text,
        description -> Text,
        lists -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        owner_id -> Nullable<Int8>,
    }
}

diesel::table! {
    containers (id) {
        id -> Int8,
        node_id -> Int8,
        template_id -> Nullable<Int8>,
        vmid -> Nullable<Int4>,
        hostname -> Text,
        created_at -> Timestamptz,
        owner_id -> Nullable<Int8>,
        kind -> Text,
        template_slug -> Nullable<Text>,
        template_hash -> Nullable<Text>,
        status -> Text,
        job_id -> Nullable<Int8>,
        request -> Jsonb,
        root_password -> Nullable<Bytea>,
        address -> Nullable<Text>,
        error -> Nullable<Text>,
        updated_at -> Timestamptz,
        test_run -> Bool,
        keep_after_test -> Bool,
        adopted -> Bool,
        adopted_name -> Nullable<Text>,
        pve_node -> Nullable<Text>,
        power -> Nullable<Text>,
        live -> Nullable<Jsonb>,
        seen_at -> Nullable<Timestamptz>,
        idempotency_key -> Nullable<Text>,
        idempotency_digest -> Nullable<Text>,
    }
}

diesel::table! {
    container_events (container_id, seq) {
        container_id -> Int8,
        seq -> Int8,
        at -> Timestamptz,
        phase -> Text,
        kind -> Text,
        text -> Text,
    }
}

diesel::table! {
    container_services (id) {
        id -> Int8,
        container_id -> Int8,
        name -> Text,
        unit -> Text,
        state -> Text,
        ports -> Array<Int4>,
        web_url -> Nullable<Text>,
    }
}

diesel::table! {
    container_credentials (id) {
        id -> Int8,
        container_id -> Int8,
        service -> Text,
        key -> Text,
        value -> Bytea,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    jobs (id) {
        id -> Int8,
        kind -> Text,
        payload -> Jsonb,
        node_id -> Nullable<Int8>,
        state -> Text,
        phase -> Nullable<Text>,
        attempts -> Int4,
        error -> Nullable<Text>,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<Timestamptz>,
        node_slot -> Nullable<Int4>,
        cancel_requested -> Bool,
        run_after -> Timestamptz,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Int8,
        owner_id -> Int8,
        name -> Text,
        digest -> Text,
        prefix -> Text,
        read_only -> Bool,
        expires_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        last_used_at -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(api_tokens -> users (owner_id));
diesel::joinable!(audit_log -> users (actor_id));
diesel::joinable!(containers -> nodes (node_id));
diesel::joinable!(containers -> templates (template_id));
diesel::joinable!(jobs -> nodes (node_id));
diesel::joinable!(containers -> users (owner_id));
diesel::joinable!(containers -> jobs (job_id));
diesel::joinable!(container_events -> containers (container_id));
diesel::joinable!(container_services -> containers (container_id));
diesel::joinable!(container_credentials -> containers (container_id));
diesel::allow_tables_to_appear_in_same_query!(
    users,
    api_tokens,
    audit_log,
    nodes,
    templates,
    package_buckets,
    containers,
    jobs,
    container_events,
    container_services,
    container_credentials
);

// Alerts (`migrations/2026-12-06-000016_alerts`).

diesel::table! {
    alert_settings (owner_id) {
        owner_id -> Int8,
        defaults_at -> Timestamptz,
    }
}

diesel::table! {
    alert_rules (id) {
        id -> Int8,
        owner_id -> Int8,
        kind -> Text,
        enabled -> Bool,
        threshold -> Nullable<Int4>,
        minutes -> Nullable<Int4>,
        node_id -> Nullable<Int8>,
        container_id -> Nullable<Int8>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    alert_channels (id) {
        id -> Int8,
        owner_id -> Int8,
        kind -> Text,
        name -> Text,
        url_sealed -> Bytea,
        url_hint -> Text,
        secret_sealed -> Nullable<Bytea>,
        enabled -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    alerts (id) {
        id -> Int8,
        owner_id -> Int8,
        rule_id -> Nullable<Int8>,
        kind -> Text,
        subject -> Text,
        title -> Text,
        detail -> Text,
        node_id -> Nullable<Int8>,
        container_id -> Nullable<Int8>,
        vmid -> Nullable<Int4>,
        fired_at -> Timestamptz,
        resolved_at -> Nullable<Timestamptz>,
        acknowledged_at -> Nullable<Timestamptz>,
        acknowledged_by -> Nullable<Text>,
    }
}

diesel::table! {
    alert_deliveries (id) {
        id -> Int8,
        alert_id -> Nullable<Int8>,
        channel_id -> Int8,
        event -> Text,
        state -> Text,
        attempts -> Int4,
        next_at -> Timestamptz,
        locked_until -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        sent_at -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(alert_deliveries -> alert_channels (channel_id));
diesel::joinable!(alert_deliveries -> alerts (alert_id));
diesel::allow_tables_to_appear_in_same_query!(
    alert_settings,
    alert_rules,
    alert_channels,
    alerts,
    alert_deliveries,
    nodes,
);
