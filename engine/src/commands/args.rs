//! Reading command arguments the way Redis does.

use bytes::Bytes;

use super::errors::CmdError;
use crate::keyspace::numbers::{parse_f64, parse_i64};
use crate::resp::format_double;

/// A case-insensitive keyword match (`NX`, `WITHSCORES`, ...).
pub fn is(arg: &[u8], keyword: &str) -> bool {
    arg.eq_ignore_ascii_case(keyword.as_bytes())
}

/// An integer argument (`ERR value is not an integer or out of range`).
pub fn int(arg: &[u8]) -> Result<i64, CmdError> {
    parse_i64(arg).ok_or(CmdError::NOT_INTEGER)
}

/// A double argument (`ERR value is not a valid float`).
pub fn float(arg: &[u8]) -> Result<f64, CmdError> {
    parse_f64(arg).ok_or(CmdError::NOT_FLOAT)
}

/// A count that must not be negative (Redis's
/// `getPositiveLongFromObjectOrReply`).
pub fn non_negative(arg: &[u8]) -> Result<usize, CmdError> {
    let value = int(arg)?;
    usize::try_from(value).map_err(|_| CmdError::NOT_POSITIVE)
}

/// Owned copy of an argument for storing in a value: argument `Bytes`
/// share the connection's read buffer, which must not be kept alive by
/// stored data.
pub fn owned(arg: &[u8]) -> Bytes {
    Bytes::copy_from_slice(arg)
}

pub fn bulk_i64(value: i64) -> Bytes {
    Bytes::from(value.to_string())
}

/// A double as an effect argument: `%.17g` reads back to the same bits.
pub fn bulk_f64(value: f64) -> Bytes {
    Bytes::from(format_double(value))
}

/// Resolves Redis's inclusive `start`/`stop` indexes, negative counting
/// from the end, against a length: `None` when the range is empty.
pub fn clamp_range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    let mut start = if start < 0 { start.saturating_add(len) } else { start };
    let mut stop = if stop < 0 { stop.saturating_add(len) } else { stop };
    if start < 0 {
        start = 0;
    }
    if start > stop || start >= len {
        return None;
    }
    if stop >= len {
        stop = len - 1;
    }
    Some((usize::try_from(start).ok()?, usize::try_from(stop).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_clamp_like_lrange() {
        assert_eq!(clamp_range(0, -1, 3), Some((0, 2)));
        assert_eq!(clamp_range(-100, 100, 3), Some((0, 2)));
        assert_eq!(clamp_range(2, 1, 3), None);
        assert_eq!(clamp_range(3, 5, 3), None);
        assert_eq!(clamp_range(0, -1, 0), None);
        assert_eq!(clamp_range(i64::MIN, i64::MAX, 3), Some((0, 2)));
        assert_eq!(clamp_range(-1, -1, 3), Some((2, 2)));
    }
}
