//! Bitmap commands on string values: SETBIT, GETBIT, BITCOUNT, BITPOS,
//! BITOP, BITFIELD and BITFIELD_RO, ported from Redis 7.0's `bitops.c`
//! with its argument order, clamping and error texts.
//!
//! Every write here is deterministic given the data, so each is propagated
//! as the command itself when it changed something.

use bytes::Bytes;

use super::args::{self, is};
use super::errors::{CmdError, CmdResult};
use crate::keyspace::access::DbAccess;
use crate::keyspace::compact::{CompactBytes, INLINE_CAPACITY};
use crate::keyspace::value::{Value, MAX_STRING_LEN};
use crate::resp::Reply;

const BIT_OFFSET_ERROR: &str = "ERR bit offset is not an integer or out of range";
const BIT_VALUE_ERROR: &str = "ERR bit is not an integer or out of range";
const BITFIELD_TYPE_ERROR: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

/// Redis reads some arguments with C string functions, which stop at a NUL.
fn c_string(bytes: &[u8]) -> &[u8] {
    let end = memchr::memchr(0, bytes).unwrap_or(bytes.len());
    bytes.get(..end).unwrap_or_default()
}

/// A bit offset (`getBitOffsetFromArgument`): a non-negative integer whose
/// byte lies within the 512 MB string limit. With `bits` (BITFIELD), a
/// `#N` offset means N fields of that width.
fn bit_offset(arg: &[u8], bits: Option<u64>) -> Result<u64, CmdError> {
    let error = || CmdError::Static(BIT_OFFSET_ERROR);
    let (digits, multiplier) = match (arg, bits) {
        ([b'#', rest @ ..], Some(bits)) => (rest, bits),
        _ => (arg, 1),
    };
    let value = args::int(digits).map_err(|_| error())?;
    let value = value
        .checked_mul(i64::try_from(multiplier).map_err(|_| error())?)
        .ok_or_else(error)?;
    let value = u64::try_from(value).map_err(|_| error())?;
    if value >> 3 >= MAX_STRING_LEN as u64 {
        return Err(error());
    }
    Ok(value)
}

/// A string value from owned bytes, in the encoding SETRANGE leaves.
fn string_value(bytes: Vec<u8>) -> Value {
    if bytes.len() <= INLINE_CAPACITY {
        Value::Str(CompactBytes::new(&bytes))
    } else {
        Value::Growable(Box::new(bytes))
    }
}

/// The string's bytes, moved out (a grown string's buffer is not copied).
fn take_bytes(value: &mut Value) -> Vec<u8> {
    match std::mem::replace(value, Value::Int(0)) {
        Value::Growable(buffer) => *buffer,
        other => other.as_str().map(|current| current.to_vec()).unwrap_or_default(),
    }
}

/// Redis's `lookupStringForBitCommand`: the string at `key`, created or
/// zero-padded so that bit `max_bit` exists, handed to `edit` as bytes.
/// Returns what `edit` returned and whether the string was created or grew.
fn edit_string<R>(
    db: &mut DbAccess<'_>,
    key: &[u8],
    max_bit: u64,
    edit: impl FnOnce(&mut Vec<u8>) -> R,
) -> Result<(R, bool), CmdError> {
    let needed = usize::try_from(max_bit >> 3)
        .ok()
        .and_then(|byte| byte.checked_add(1))
        .ok_or(CmdError::Static(BIT_OFFSET_ERROR))?;
    let pos = match db.lookup(key) {
        Some(pos) => pos,
        None => db.put(key, Value::Str(CompactBytes::new(b"")), None),
    };
    let value = db.value_mut(pos).ok_or(CmdError::WRONG_TYPE)?;
    if value.as_str().is_none() {
        return Err(CmdError::WRONG_TYPE);
    }
    let mut bytes = take_bytes(value);
    let old_len = bytes.len();
    if bytes.len() < needed {
        bytes.resize(needed, 0);
    }
    let result = edit(&mut bytes);
    let grew = bytes.len() != old_len;
    *value = string_value(bytes);
    Ok((result, grew))
}

/// Whether `key` exists, checking that it holds a string first: the
/// pre-write type check of the bit commands (a missing key is created).
fn check_string_or_missing(db: &mut DbAccess<'_>, key: &[u8]) -> Result<bool, CmdError> {
    Ok(db.get_str(key)?.is_some())
}

fn get_bit(bytes: &[u8], offset: u64) -> u8 {
    let Ok(byte) = usize::try_from(offset >> 3) else {
        return 0;
    };
    let shift = 7 - (offset & 7);
    bytes.get(byte).map_or(0, |value| (value >> shift) & 1)
}

fn set_bit(bytes: &mut [u8], offset: u64, on: bool) {
    let Ok(byte) = usize::try_from(offset >> 3) else {
        return;
    };
    let mask = 1u8 << (7 - (offset & 7));
    if let Some(value) = bytes.get_mut(byte) {
        if on {
            *value |= mask;
        } else {
            *value &= !mask;
        }
    }
}

/// SETBIT key offset value.
pub fn setbit(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, offset, bit] = argv else {
        return Err(CmdError::Arity);
    };
    let offset = bit_offset(offset, None)?;
    let on = match args::int(bit) {
        Ok(0) => false,
        Ok(1) => true,
        _ => return Err(CmdError::Static(BIT_VALUE_ERROR)),
    };
    let existed = check_string_or_missing(db, key)?;
    let (old, grew) = edit_string(db, key, offset, |bytes| {
        let old = get_bit(bytes, offset);
        set_bit(bytes, offset, on);
        old
    })?;
    // As Redis: only a string that was created, grew or changed a bit is a
    // write worth propagating.
    if grew || !existed || (old == 1) != on {
        db.propagate(argv.to_vec());
    }
    Ok(Reply::Integer(i64::from(old)))
}

/// GETBIT key offset.
pub fn getbit(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, offset] = argv else {
        return Err(CmdError::Arity);
    };
    let offset = bit_offset(offset, None)?;
    let bit = db
        .get_str(key)?
        .map_or(0, |value| value.with_bytes(|bytes| get_bit(bytes, offset)));
    Ok(Reply::Integer(i64::from(bit)))
}

/// A BITCOUNT / BITPOS range resolved to bits: `start_bit..=end_bit`, or
/// `None` when empty. `start`/`end` are in bytes or bits per `in_bits`,
/// negative counting from the end, clamped as Redis clamps them.
fn resolve_range(len: usize, start: i64, end: i64, in_bits: bool) -> Option<(u64, u64)> {
    let mut total = i64::try_from(len).unwrap_or(i64::MAX);
    if in_bits {
        total = total.saturating_mul(8);
    }
    let mut start = if start < 0 { start.saturating_add(total) } else { start };
    let mut end = if end < 0 { end.saturating_add(total) } else { end };
    start = start.max(0);
    end = end.max(0);
    if end >= total {
        end = total - 1;
    }
    if start > end {
        return None;
    }
    let (start, end) = (u64::try_from(start).ok()?, u64::try_from(end).ok()?);
    Some(if in_bits {
        (start, end)
    } else {
        (start * 8, end * 8 + 7)
    })
}

/// Set bits in `bytes` between bit positions `from..=to`.
fn count_bits(bytes: &[u8], from: u64, to: u64) -> u64 {
    let (Ok(first), Ok(last)) = (usize::try_from(from >> 3), usize::try_from(to >> 3)) else {
        return 0;
    };
    let Some(span) = bytes.get(first..=last) else {
        return 0;
    };
    let mut total: u64 = span.iter().map(|byte| u64::from(byte.count_ones())).sum();
    // Take off the bits of the edge bytes that lie outside the range.
    let head_outside = from & 7;
    if head_outside > 0 {
        if let Some(byte) = span.first() {
            total -= u64::from((byte >> (8 - head_outside)).count_ones());
        }
    }
    let tail_outside = 7 - (to & 7);
    if tail_outside > 0 {
        if let Some(byte) = span.last() {
            let mask = (1u8 << tail_outside) - 1;
            total -= u64::from((byte & mask).count_ones());
        }
    }
    total
}

/// BITCOUNT key [start end [BYTE | BIT]].
pub fn bitcount(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, range @ ..] = argv else {
        return Err(CmdError::Arity);
    };
    // Redis looks the key up before reading the range: a missing key is 0
    // whatever the other arguments say.
    let Some(value) = db.get_str(key)? else {
        return Ok(Reply::Integer(0));
    };
    let bytes = value.to_vec();
    let bits = match range {
        [] => resolve_range(bytes.len(), 0, -1, false),
        [start, end] | [start, end, _] => {
            let (start, end) = (args::int(start)?, args::int(end)?);
            if start < 0 && end < 0 && start > end {
                return Ok(Reply::Integer(0));
            }
            let in_bits = match range.get(2) {
                None => false,
                Some(unit) if is(unit, "BIT") => true,
                Some(unit) if is(unit, "BYTE") => false,
                Some(_) => return Err(CmdError::SYNTAX),
            };
            resolve_range(bytes.len(), start, end, in_bits)
        }
        _ => return Err(CmdError::SYNTAX),
    };
    let total = bits.map_or(0, |(from, to)| count_bits(&bytes, from, to));
    Ok(Reply::Integer(i64::try_from(total).unwrap_or(i64::MAX)))
}

/// The first bit equal to `bit` within `from..=to`.
fn find_bit(bytes: &[u8], from: u64, to: u64, bit: u8) -> Option<u64> {
    let skip = if bit == 1 { 0x00 } else { 0xff };
    let mut position = from;
    while position <= to {
        let byte_index = usize::try_from(position >> 3).ok()?;
        let byte = *bytes.get(byte_index)?;
        // Whole bytes that cannot hold the bit are skipped at once.
        if position & 7 == 0 && position + 7 <= to && byte == skip {
            position += 8;
            continue;
        }
        if (byte >> (7 - (position & 7))) & 1 == bit {
            return Some(position);
        }
        position += 1;
    }
    None
}

/// BITPOS key bit [start [end [BYTE | BIT]]].
pub fn bitpos(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, bit, range @ ..] = argv else {
        return Err(CmdError::Arity);
    };
    let bit = match args::int(bit)? {
        0 => 0u8,
        1 => 1u8,
        _ => return Err(CmdError::Static("ERR The bit argument must be 1 or 0.")),
    };
    // A missing key is an infinite run of zeros.
    let Some(value) = db.get_str(key)? else {
        return Ok(Reply::Integer(if bit == 1 { -1 } else { 0 }));
    };
    let bytes = value.to_vec();
    let (bits, end_given) = match range {
        [] => (resolve_range(bytes.len(), 0, -1, false), false),
        [start, rest @ ..] if rest.len() <= 2 => {
            let start = args::int(start)?;
            let in_bits = match rest.get(1) {
                None => false,
                Some(unit) if is(unit, "BIT") => true,
                Some(unit) if is(unit, "BYTE") => false,
                Some(_) => return Err(CmdError::SYNTAX),
            };
            match rest.first() {
                Some(end) => (resolve_range(bytes.len(), start, args::int(end)?, in_bits), true),
                None => (resolve_range(bytes.len(), start, -1, false), false),
            }
        }
        _ => return Err(CmdError::SYNTAX),
    };
    // An empty range holds neither a 0 nor a 1.
    let Some((from, to)) = bits else {
        return Ok(Reply::Integer(-1));
    };
    let position = match find_bit(&bytes, from, to, bit) {
        Some(position) => i64::try_from(position).unwrap_or(i64::MAX),
        // Looking for a 0 with no end given, the string counts as padded
        // with zeros on the right; otherwise there is none.
        None if bit == 0 && !end_given => i64::try_from(to + 1).unwrap_or(i64::MAX),
        None => -1,
    };
    Ok(Reply::Integer(position))
}

/// BITOP AND | OR | XOR | NOT destkey key [key ...].
pub fn bitop(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, operation, target, sources @ ..] = argv else {
        return Err(CmdError::Arity);
    };
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Op {
        And,
        Or,
        Xor,
        Not,
    }
    let op = if is(operation, "AND") {
        Op::And
    } else if is(operation, "OR") {
        Op::Or
    } else if is(operation, "XOR") {
        Op::Xor
    } else if is(operation, "NOT") {
        Op::Not
    } else {
        return Err(CmdError::SYNTAX);
    };
    if op == Op::Not && sources.len() != 1 {
        return Err(CmdError::Static(
            "ERR BITOP NOT must be called with a single source key.",
        ));
    }
    let mut inputs: Vec<Vec<u8>> = Vec::with_capacity(sources.len());
    for source in sources {
        // Missing keys are empty strings.
        inputs.push(db.get_str(source)?.map(|value| value.to_vec()).unwrap_or_default());
    }
    let longest = inputs.iter().map(Vec::len).max().unwrap_or(0);
    let mut result = Vec::with_capacity(longest);
    for index in 0..longest {
        let byte_of = |input: &Vec<u8>| input.get(index).copied().unwrap_or(0);
        let mut iter = inputs.iter();
        let mut output = iter.next().map_or(0, byte_of);
        if op == Op::Not {
            output = !output;
        }
        for input in iter {
            let byte = byte_of(input);
            match op {
                Op::And => output &= byte,
                Op::Or => output |= byte,
                Op::Xor => output ^= byte,
                Op::Not => {}
            }
        }
        result.push(output);
    }
    if longest > 0 {
        // Like SET: the destination is replaced and loses any TTL.
        db.lookup(target);
        db.put(target, string_value(result), None);
        db.propagate(argv.to_vec());
    } else if db.delete(target) {
        db.propagate(argv.to_vec());
    }
    Ok(Reply::Integer(i64::try_from(longest).unwrap_or(i64::MAX)))
}

/// BITFIELD's OVERFLOW modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FieldOp {
    Get,
    Set(i64),
    IncrBy(i64),
}

#[derive(Clone, Copy, Debug)]
struct Field {
    op: FieldOp,
    signed: bool,
    bits: u64,
    offset: u64,
    overflow: Overflow,
}

/// `i8`, `u16`... : signed up to 64 bits, unsigned up to 63
/// (`getBitfieldTypeFromArgument`, case-sensitive).
fn field_type(arg: &[u8]) -> Result<(bool, u64), CmdError> {
    let error = || CmdError::Static(BITFIELD_TYPE_ERROR);
    let arg = c_string(arg);
    let (signed, digits) = match arg {
        [b'i', rest @ ..] => (true, rest),
        [b'u', rest @ ..] => (false, rest),
        _ => return Err(error()),
    };
    let bits = args::int(digits).map_err(|_| error())?;
    let limit = if signed { 64 } else { 63 };
    if bits < 1 || bits > limit {
        return Err(error());
    }
    Ok((signed, u64::try_from(bits).map_err(|_| error())?))
}

fn get_unsigned(bytes: &[u8], offset: u64, bits: u64) -> u64 {
    (0..bits).fold(0u64, |value, j| (value << 1) | u64::from(get_bit(bytes, offset + j)))
}

fn get_signed(bytes: &[u8], offset: u64, bits: u64) -> i64 {
    let raw = get_unsigned(bytes, offset, bits);
    // Sign-extend from the field's top bit (two's complement).
    let value = if bits < 64 && raw & (1u64 << (bits - 1)) != 0 {
        raw | (u64::MAX << bits)
    } else {
        raw
    };
    i64::from_ne_bytes(value.to_ne_bytes())
}

fn set_unsigned(bytes: &mut [u8], offset: u64, bits: u64, value: u64) {
    for j in 0..bits {
        set_bit(bytes, offset + j, value & (1u64 << (bits - 1 - j)) != 0);
    }
}

fn as_u64(value: i64) -> u64 {
    u64::from_ne_bytes(value.to_ne_bytes())
}

fn as_i64(value: u64) -> i64 {
    i64::from_ne_bytes(value.to_ne_bytes())
}

/// `checkUnsignedBitfieldOverflow`, with its wrap-around arithmetic: the
/// value to store instead (for WRAP and SAT) when `value + incr` does not
/// fit, `None` when it fits.
fn unsigned_overflow(value: u64, incr: i64, bits: u64, mode: Overflow) -> Option<u64> {
    let max = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
    let wrapped = || {
        let mask = u64::MAX << bits;
        value.wrapping_add(as_u64(incr)) & !mask
    };
    let saturate = |limit: u64| match mode {
        Overflow::Wrap => wrapped(),
        Overflow::Sat | Overflow::Fail => limit,
    };
    if value > max || (incr > 0 && incr > as_i64(max.wrapping_sub(value))) {
        return Some(saturate(max));
    }
    if incr < 0 && incr < as_i64(value.wrapping_neg()) {
        return Some(saturate(0));
    }
    None
}

/// `checkSignedBitfieldOverflow`, ported with the same wrapping
/// intermediate values so that even out-of-range SET values land where
/// Redis puts them.
fn signed_overflow(value: i64, incr: i64, bits: u64, mode: Overflow) -> Option<i64> {
    let max: i64 = if bits == 64 { i64::MAX } else { (1i64 << (bits - 1)) - 1 };
    let min = -max - 1;
    let max_incr = as_i64(as_u64(max).wrapping_sub(as_u64(value)));
    let min_incr = min.wrapping_sub(value);
    let wrapped = || {
        let mut sum = as_u64(value).wrapping_add(as_u64(incr));
        if bits < 64 {
            let mask = u64::MAX << bits;
            if sum & (1u64 << (bits - 1)) != 0 {
                sum |= mask;
            } else {
                sum &= !mask;
            }
        }
        as_i64(sum)
    };
    let saturate = |limit: i64| match mode {
        Overflow::Wrap => wrapped(),
        Overflow::Sat | Overflow::Fail => limit,
    };
    if value > max || (bits != 64 && incr > max_incr) || (value >= 0 && incr > 0 && incr > max_incr) {
        return Some(saturate(max));
    }
    if value < min || (bits != 64 && incr < min_incr) || (value < 0 && incr < 0 && incr < min_incr) {
        return Some(saturate(min));
    }
    None
}

/// Runs one SET or INCRBY on the bytes: the reply (the old value for SET,
/// the new one for INCRBY, nil when OVERFLOW FAIL refused it).
fn write_field(bytes: &mut [u8], field: &Field) -> Reply {
    let Field {
        op,
        signed,
        bits,
        offset,
        overflow: mode,
    } = *field;
    let (operand, increment) = match op {
        FieldOp::Set(value) => (value, false),
        FieldOp::IncrBy(value) => (value, true),
        FieldOp::Get => return Reply::Null,
    };
    let (store, reply, overflowed) = if signed {
        let old = get_signed(bytes, offset, bits);
        if increment {
            let fixed = signed_overflow(old, operand, bits, mode);
            let new = fixed.unwrap_or_else(|| old.wrapping_add(operand));
            (as_u64(new), new, fixed.is_some())
        } else {
            let fixed = signed_overflow(operand, 0, bits, mode);
            (as_u64(fixed.unwrap_or(operand)), old, fixed.is_some())
        }
    } else {
        let old = get_unsigned(bytes, offset, bits);
        if increment {
            let fixed = unsigned_overflow(old, operand, bits, mode);
            let new = fixed.unwrap_or_else(|| old.wrapping_add(as_u64(operand)));
            (new, as_i64(new), fixed.is_some())
        } else {
            let fixed = unsigned_overflow(as_u64(operand), 0, bits, mode);
            (fixed.unwrap_or(as_u64(operand)), as_i64(old), fixed.is_some())
        }
    };
    if overflowed && mode == Overflow::Fail {
        return Reply::Null;
    }
    set_unsigned(bytes, offset, bits, store);
    Reply::Integer(reply)
}

/// Parses BITFIELD's operations (`bitfieldGeneric`'s loop).
fn parse_fields(ops: &[Bytes]) -> Result<Vec<Field>, CmdError> {
    let mut fields = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 0;
    while let Some(name) = ops.get(j) {
        let remaining = ops.len() - j - 1;
        let needs_value = if is(name, "GET") && remaining >= 2 {
            false
        } else if (is(name, "SET") || is(name, "INCRBY")) && remaining >= 3 {
            true
        } else if is(name, "OVERFLOW") && remaining >= 1 {
            let mode = ops.get(j + 1).map(|arg| &arg[..]).unwrap_or_default();
            overflow = if is(mode, "WRAP") {
                Overflow::Wrap
            } else if is(mode, "SAT") {
                Overflow::Sat
            } else if is(mode, "FAIL") {
                Overflow::Fail
            } else {
                return Err(CmdError::Static("ERR Invalid OVERFLOW type specified"));
            };
            j += 2;
            continue;
        } else {
            return Err(CmdError::SYNTAX);
        };
        let type_arg = ops.get(j + 1).ok_or(CmdError::SYNTAX)?;
        let offset_arg = ops.get(j + 2).ok_or(CmdError::SYNTAX)?;
        let (signed, bits) = field_type(type_arg)?;
        let offset = bit_offset(offset_arg, Some(bits))?;
        let op = if needs_value {
            let value = args::int(ops.get(j + 3).ok_or(CmdError::SYNTAX)?)?;
            if is(name, "SET") {
                FieldOp::Set(value)
            } else {
                FieldOp::IncrBy(value)
            }
        } else {
            FieldOp::Get
        };
        fields.push(Field {
            op,
            signed,
            bits,
            offset,
            overflow,
        });
        j += if needs_value { 4 } else { 3 };
    }
    Ok(fields)
}

fn read_field(bytes: &[u8], field: &Field) -> Reply {
    Reply::Integer(if field.signed {
        get_signed(bytes, field.offset, field.bits)
    } else {
        as_i64(get_unsigned(bytes, field.offset, field.bits))
    })
}

fn bitfield_generic(db: &mut DbAccess<'_>, argv: &[Bytes], read_only: bool) -> CmdResult {
    let [_, key, ops @ ..] = argv else {
        return Err(CmdError::Arity);
    };
    let fields = parse_fields(ops)?;
    let highest_write = fields
        .iter()
        .filter(|field| field.op != FieldOp::Get)
        .map(|field| field.offset + field.bits - 1)
        .max();
    let Some(highest_write) = highest_write else {
        let bytes = db.get_str(key)?.map(|value| value.to_vec()).unwrap_or_default();
        return Ok(Reply::Array(
            fields.iter().map(|field| read_field(&bytes, field)).collect(),
        ));
    };
    if read_only {
        return Err(CmdError::Static("ERR BITFIELD_RO only supports the GET subcommand"));
    }
    check_string_or_missing(db, key)?;
    let (replies, _) = edit_string(db, key, highest_write, |bytes| {
        fields
            .iter()
            .map(|field| match field.op {
                FieldOp::Get => read_field(bytes, field),
                FieldOp::Set(_) | FieldOp::IncrBy(_) => write_field(bytes, field),
            })
            .collect::<Vec<_>>()
    })?;
    db.propagate(argv.to_vec());
    Ok(Reply::Array(replies))
}

/// BITFIELD key [GET type offset | SET type offset value | INCRBY type
/// offset increment | OVERFLOW WRAP|SAT|FAIL ...].
pub fn bitfield(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    bitfield_generic(db, argv, false)
}

/// BITFIELD_RO key [GET type offset ...].
pub fn bitfield_ro(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    bitfield_generic(db, argv, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_parse_like_redis() {
        assert_eq!(bit_offset(b"7", None), Ok(7));
        assert!(bit_offset(b"-1", None).is_err());
        assert!(bit_offset(b"4294967296", None).is_err());
        assert_eq!(bit_offset(b"4294967295", None), Ok(4_294_967_295));
        assert_eq!(bit_offset(b"#3", Some(8)), Ok(24));
        assert!(bit_offset(b"#3", None).is_err());
        assert!(bit_offset(b"#9223372036854775807", Some(8)).is_err());
    }

    #[test]
    fn counting_respects_bit_edges() {
        let bytes = [0xffu8, 0xff];
        assert_eq!(count_bits(&bytes, 0, 15), 16);
        assert_eq!(count_bits(&bytes, 3, 12), 10);
        assert_eq!(count_bits(&bytes, 5, 5), 1);
    }

    #[test]
    fn overflow_matches_redis_examples() {
        // u2 at 3, INCRBY 1 with WRAP/SAT/FAIL from the Redis docs.
        assert_eq!(unsigned_overflow(3, 1, 2, Overflow::Wrap), Some(0));
        assert_eq!(unsigned_overflow(3, 1, 2, Overflow::Sat), Some(3));
        assert!(unsigned_overflow(2, 1, 2, Overflow::Fail).is_none());
        assert_eq!(signed_overflow(127, 1, 8, Overflow::Wrap), Some(-128));
        assert_eq!(signed_overflow(-128, -1, 8, Overflow::Sat), Some(-128));
        assert_eq!(signed_overflow(i64::MAX, 1, 64, Overflow::Wrap), Some(i64::MIN));
        assert_eq!(unsigned_overflow(as_u64(-1), 0, 8, Overflow::Wrap), Some(255));
    }
}
