//! Values as people read them: times, memory sizes, plurals, chart figures.

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

/// A number as short as reads well: whole from 100 up, one decimal from 10, two below
/// (trailing zeros dropped): `512`, `12.5`, `0.25`, `3`.
pub fn figure(value: f64) -> String {
    let decimals = match value.abs() {
        v if v >= 100.0 => 0,
        v if v >= 10.0 => 1,
        _ => 2,
    };
    let text = format!("{value:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    if text == "-0" {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

/// The binary units of [`size`].
pub const SIZE_UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];

/// The unit a byte count reads in (an index into [`SIZE_UNITS`]) and its size in bytes.
pub fn size_unit(bytes: f64) -> (usize, f64) {
    let mut unit = 0;
    let mut scale = 1.0;
    while bytes.abs() >= scale * 1024.0 && unit < SIZE_UNITS.len() - 1 {
        scale *= 1024.0;
        unit += 1;
    }
    (unit, scale)
}

/// Bytes in binary units, short: `512 B`, `1.5 KiB`, `12.3 MiB`, `2 GiB`.
pub fn size(bytes: f64) -> String {
    let (unit, scale) = size_unit(bytes);
    format!("{} {}", figure(bytes / scale), SIZE_UNITS[unit])
}

/// A 0..=1 share as a percentage: `0.4 %`, `12.5 %`, `100 %`.
pub fn share(value: f64) -> String {
    format!("{} %", figure(value * 100.0))
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
        assert_eq!(figure(512.0), "512");
        assert_eq!(figure(12.04), "12");
        assert_eq!(figure(12.5), "12.5");
        assert_eq!(figure(0.3000000004), "0.3");
        assert_eq!(figure(0.0), "0");
        assert_eq!(figure(-0.0001), "0");
        assert_eq!(size(512.0), "512 B");
        assert_eq!(size(1536.0), "1.5 KiB");
        assert_eq!(size(2.0 * 1024.0 * 1024.0 * 1024.0), "2 GiB");
        assert_eq!(share(0.125), "12.5 %");
        assert_eq!(share(1.0), "100 %");
    }
}
