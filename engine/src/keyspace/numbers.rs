//! Numbers as Redis reads and writes them in strings.
//!
//! Redis is strict about what counts as an integer (`string2ll`): no sign
//! but `-`, no leading zeros, no blanks. The same rule decides whether a
//! string value may be stored in its integer encoding, because the integer
//! must print back to exactly the bytes the client sent.

/// The longest decimal text of an `i64` (`-9223372036854775808`).
pub const MAX_I64_TEXT: usize = 20;

/// Parses a decimal integer exactly as Redis's `string2ll` does.
pub fn parse_i64(bytes: &[u8]) -> Option<i64> {
    if bytes == b"0" {
        return Some(0);
    }
    let (negative, digits) = match bytes {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, bytes),
    };
    // A leading zero (or an empty number) never round-trips.
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    if digits.len() > 19 {
        return None;
    }
    let mut magnitude: u64 = 0;
    for &digit in digits {
        if !digit.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude.checked_mul(10)?.checked_add(u64::from(digit - b'0'))?;
    }
    if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Parses a double as Redis's `string2d` (`strtod`) accepts it: no blanks,
/// no NaN, no overflow to infinity or underflow to zero; `inf` and
/// `-inf` spelled out are fine.
pub fn parse_f64(bytes: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(bytes).ok()?;
    let value: f64 = text.parse().ok()?;
    if value.is_nan() {
        return None;
    }
    let mantissa = text.split(['e', 'E']).next().unwrap_or_default();
    if value.is_infinite() && !mantissa.to_ascii_lowercase().contains("inf") {
        return None;
    }
    if value == 0.0 && mantissa.bytes().any(|byte| matches!(byte, b'1'..=b'9')) {
        return None;
    }
    Some(value)
}

/// Writes `value` in decimal into `buf`, returning the digits.
pub fn format_i64(value: i64, buf: &mut [u8; MAX_I64_TEXT]) -> &[u8] {
    let mut start = buf.len();
    let mut magnitude = value.unsigned_abs();
    loop {
        start -= 1;
        // `magnitude % 10` is below 10, so the cast cannot truncate.
        if let Some(slot) = buf.get_mut(start) {
            *slot = b'0' + (magnitude % 10) as u8;
        }
        magnitude /= 10;
        if magnitude == 0 || start == 0 {
            break;
        }
    }
    if value < 0 && start > 0 {
        start -= 1;
        if let Some(slot) = buf.get_mut(start) {
            *slot = b'-';
        }
    }
    buf.get(start..).unwrap_or_default()
}

/// The number of bytes of `value` in decimal.
pub fn i64_text_len(value: i64) -> usize {
    format_i64(value, &mut [0; MAX_I64_TEXT]).len()
}

/// Formats a double the way INCRBYFLOAT stores it: plain decimal without an
/// exponent and without trailing zeros (Redis's "human friendly" form).
/// Rust's shortest round-trip formatting gives `10.6` for `10.5 + 0.1`
/// where a fixed 17 digits would show the binary error.
pub fn format_human_f64(value: f64) -> String {
    format!("{value}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_parse_like_string2ll() {
        for (text, expected) in [
            (&b"0"[..], Some(0)),
            (b"-1", Some(-1)),
            (b"123", Some(123)),
            (b"9223372036854775807", Some(i64::MAX)),
            (b"-9223372036854775808", Some(i64::MIN)),
            (b"9223372036854775808", None),
            (b"-9223372036854775809", None),
            (b"-0", None),
            (b"01", None),
            (b"+1", None),
            (b" 1", None),
            (b"1 ", None),
            (b"", None),
            (b"-", None),
            (b"1.0", None),
            (b"99999999999999999999", None),
        ] {
            assert_eq!(parse_i64(text), expected, "{:?}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn integers_format_back() {
        for value in [0, 1, -1, 42, i64::MAX, i64::MIN, 1_000_000] {
            let mut buf = [0; MAX_I64_TEXT];
            assert_eq!(format_i64(value, &mut buf), value.to_string().as_bytes());
            assert_eq!(i64_text_len(value), value.to_string().len());
        }
    }

    #[test]
    fn doubles_parse_like_strtod() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"+inf"), Some(f64::INFINITY));
        assert_eq!(parse_f64(b"1e3"), Some(1000.0));
        assert_eq!(parse_f64(b".5"), Some(0.5));
        assert_eq!(parse_f64(b"0"), Some(0.0));
        assert_eq!(parse_f64(b"0e10"), Some(0.0));
        for bad in [&b"nan"[..], b"", b" 1", b"1 ", b"abc", b"1e400", b"1e-400", b"\xff"] {
            assert_eq!(parse_f64(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn human_doubles() {
        assert_eq!(format_human_f64(10.5 + 0.1), "10.6");
        assert_eq!(format_human_f64(5000.0), "5000");
        assert_eq!(format_human_f64(-1.25), "-1.25");
    }
}
