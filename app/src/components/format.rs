//! Values as people read them: times, memory sizes, plurals.

/// `2026-11-22T10:04:05.123Z` as `2026-11-22 10:04 UTC`.
pub fn short_time(rfc3339: &str) -> String {
    match (rfc3339.get(..10), rfc3339.get(11..16)) {
        (Some(day), Some(time)) => format!("{day} {time} UTC"),
        _ => rfc3339.to_owned(),
    }
}

/// Memory in MiB as people say it.
pub fn mib(value: u32) -> String {
    if value >= 1024 && value.is_multiple_of(1024) {
        format!("{} GiB", value / 1024)
    } else {
        format!("{value} MiB")
    }
}

/// The plural `s` for `n` things.
pub fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_like_people_say_it() {
        assert_eq!(
            short_time("2026-11-22T10:04:05.123Z"),
            "2026-11-22 10:04 UTC"
        );
        assert_eq!(short_time("soon"), "soon");
        assert_eq!(mib(2048), "2 GiB");
        assert_eq!(mib(1536), "1536 MiB");
        assert_eq!(plural(1), "");
        assert_eq!(plural(2), "s");
    }
}
