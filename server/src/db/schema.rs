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

diesel::joinable!(audit_log -> users (actor_id));
diesel::allow_tables_to_appear_in_same_query!(users, audit_log);
