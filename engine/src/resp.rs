//! RESP, the Redis serialization protocol: request parsing and reply encoding.
//!
//! The request parser is written by hand rather than taken from a crate: it is
//! the product's core, every byte a client sends goes through it, and it has to
//! match Redis 7.0 (`networking.c`, `sds.c`) byte for byte, including its
//! limits, its error texts and its quirks (inline commands, `sdssplitargs`
//! quoting, skipped empty arrays). A generic RESP crate gives none of that.
//!
//! The parser is streaming: the connection appends whatever it read to one
//! `BytesMut` and calls [`RequestParser::parse`] until it returns `Ok(None)`.
//! Arguments are split off the buffer without copying, and nothing is ever
//! allocated from a length the client announced before those bytes arrived, so
//! a client cannot make the server reserve memory it never sends.

use bytes::{Buf, Bytes, BytesMut};

/// Redis's `PROTO_INLINE_MAX_SIZE`: the longest inline request, and the longest
/// multibulk or bulk header, that may sit in the buffer without its newline.
const PROTO_INLINE_MAX_SIZE: usize = 64 * 1024;

/// Upper bound on the argument vector reserved from a multibulk header, which
/// the client controls; Redis caps its `argv` preallocation at 1024 as well.
const MAX_PREALLOCATED_ARGS: usize = 1024;

/// Every way a request can be malformed. Redis answers each one with
/// `-ERR Protocol error: <text>` and then closes the connection; the texts
/// below are Redis 7.0's, so clients and tests written against Redis match.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// A bulk header (`$<len>`) that is not a number, is negative, or exceeds
    /// `proto-max-bulk-len`.
    #[error("invalid bulk length")]
    InvalidBulkLength,
    /// A multibulk header (`*<n>`) that is not a number or exceeds the limit.
    #[error("invalid multibulk length")]
    InvalidMultibulkLength,
    /// An inline request with no newline in its first 64 KiB.
    #[error("too big inline request")]
    InlineRequestTooBig,
    /// A multibulk header with no `\r` in its first 64 KiB.
    #[error("too big mbulk count string")]
    MultibulkCountTooBig,
    /// A bulk header with no `\r` in its first 64 KiB.
    #[error("too big bulk count string")]
    BulkCountTooBig,
    /// A multibulk element that does not start with `$`.
    #[error("expected '$', got '{}'", printable_byte(*.0))]
    ExpectedBulk(u8),
    /// An inline request whose quotes `sdssplitargs` rejects.
    #[error("unbalanced quotes in request")]
    UnbalancedQuotes,
    /// More unparsed bytes than `client-query-buffer-limit`. Redis closes such
    /// a client without a protocol error reply; the text is for logs.
    #[error("query buffer limit exceeded")]
    QueryBufferLimitExceeded,
}

impl ProtocolError {
    /// The error line Redis sends before closing the connection, without the
    /// trailing `\r\n`: `-ERR Protocol error: <text>`.
    pub fn to_redis_error(&self) -> String {
        format!("-ERR Protocol error: {self}")
    }

    /// The same error as a reply, for writing with [`Reply::encode`].
    pub fn to_reply(&self) -> Reply {
        Reply::Error(format!("ERR Protocol error: {self}"))
    }
}

/// Redis 7.0's `addReplyErrorFormat` turns `\r` and `\n` into spaces so that an
/// error line cannot break the protocol; bytes above ASCII show as Latin-1.
fn printable_byte(byte: u8) -> char {
    match byte {
        b'\r' | b'\n' => ' ',
        other => char::from(other),
    }
}

/// The protocol limits a server can configure, with Redis's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParserLimits {
    /// `proto-max-bulk-len`: the longest single argument (512 MB).
    pub max_bulk_len: usize,
    /// The most arguments one multibulk request may announce (1024 * 1024 * 1024).
    pub max_multibulk_len: usize,
    /// `PROTO_INLINE_MAX_SIZE`: how many bytes an inline request, or a
    /// multibulk / bulk header, may hold before its newline arrives (64 KiB).
    pub max_inline_len: usize,
    /// `client-query-buffer-limit`: the most unparsed bytes a client may have
    /// buffered (1 GiB).
    pub max_query_buffer_len: usize,
}

impl Default for ParserLimits {
    fn default() -> Self {
        Self {
            max_bulk_len: 512 * 1024 * 1024,
            max_multibulk_len: 1024 * 1024 * 1024,
            max_inline_len: PROTO_INLINE_MAX_SIZE,
            max_query_buffer_len: 1024 * 1024 * 1024,
        }
    }
}

/// Where the parser is between calls; a multibulk request is consumed argument
/// by argument as it arrives, like Redis does, so a large pipeline split over
/// many reads is never rescanned from its start.
#[derive(Debug)]
enum ParserState {
    /// Between requests.
    Idle,
    /// Inside a multibulk request.
    Multibulk {
        /// Arguments still to read.
        remaining: usize,
        /// Arguments read so far.
        args: Vec<Bytes>,
        /// Their total size: it counts against the query buffer limit, so
        /// a client cannot hold memory by never finishing a request.
        args_bytes: usize,
        /// The length of the argument whose header was read but whose bytes
        /// have not all arrived yet.
        pending_bulk_len: Option<usize>,
    },
    /// A protocol error was found; the connection must be closed, and every
    /// later call reports the same error instead of parsing garbage.
    Failed(ProtocolError),
}

/// A streaming parser for the requests of one client connection.
#[derive(Debug)]
pub struct RequestParser {
    limits: ParserLimits,
    state: ParserState,
}

impl Default for RequestParser {
    fn default() -> Self {
        Self::new(ParserLimits::default())
    }
}

impl RequestParser {
    pub fn new(limits: ParserLimits) -> Self {
        Self {
            limits,
            state: ParserState::Idle,
        }
    }

    /// Bytes of the request under way already taken out of the input
    /// (its complete arguments).
    pub fn partial_bytes(&self) -> usize {
        match &self.state {
            ParserState::Multibulk { args_bytes, .. } => *args_bytes,
            _ => 0,
        }
    }

    pub fn limits(&self) -> &ParserLimits {
        &self.limits
    }

    /// Changes the limits (CONFIG SET proto-max-bulk-len,
    /// client-query-buffer-limit); they apply from the next request.
    pub fn set_limits(&mut self, limits: ParserLimits) {
        self.limits = limits;
    }

    /// Takes the next complete command off the front of `input`.
    ///
    /// Returns `Ok(Some(args))` for a command (never empty), `Ok(None)` when
    /// more bytes are needed, and `Err` for a protocol error, after which the
    /// connection must be closed. Consumed bytes are removed from `input`; a
    /// partial request may be consumed into the parser's own state.
    pub fn parse(&mut self, input: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        if let ParserState::Failed(error) = &self.state {
            return Err(error.clone());
        }
        let outcome = self.parse_unchecked(input);
        if let Err(error) = &outcome {
            self.state = ParserState::Failed(error.clone());
        }
        outcome
    }

    fn parse_unchecked(&mut self, input: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        // Redis checks the query buffer right after reading into it, before
        // parsing, so a client that sends faster than it is served is cut off.
        // The arguments of a request not yet complete count too.
        if input.len().saturating_add(self.partial_bytes()) > self.limits.max_query_buffer_len {
            return Err(ProtocolError::QueryBufferLimitExceeded);
        }
        loop {
            match &mut self.state {
                ParserState::Failed(error) => return Err(error.clone()),
                ParserState::Idle => {
                    let Some(&first) = input.first() else {
                        return Ok(None);
                    };
                    if first == b'*' {
                        let Some(count) = self.parse_multibulk_header(input)? else {
                            return Ok(None);
                        };
                        if count > 0 {
                            self.state = ParserState::Multibulk {
                                remaining: count,
                                args: Vec::with_capacity(count.min(MAX_PREALLOCATED_ARGS)),
                                args_bytes: 0,
                                pending_bulk_len: None,
                            };
                        }
                        // `*0` and negative counts such as `*-1` are skipped
                        // without a reply, as Redis does.
                    } else {
                        let Some(args) = self.parse_inline(input)? else {
                            return Ok(None);
                        };
                        // Empty lines (a bare newline, or only blanks) are
                        // skipped: telnet users press enter.
                        if !args.is_empty() {
                            return Ok(Some(args));
                        }
                    }
                }
                ParserState::Multibulk {
                    remaining,
                    args,
                    args_bytes,
                    pending_bulk_len,
                } => {
                    while *remaining > 0 {
                        let bulk_len = match *pending_bulk_len {
                            Some(len) => len,
                            None => match parse_bulk_header(input, &self.limits)? {
                                Some(len) => {
                                    *pending_bulk_len = Some(len);
                                    len
                                }
                                None => return Ok(None),
                            },
                        };
                        // The argument is followed by `\r\n`, which Redis skips
                        // without looking at; so do we, to accept what it does.
                        let Some(needed) = bulk_len.checked_add(2) else {
                            return Err(ProtocolError::InvalidBulkLength);
                        };
                        if input.len() < needed {
                            return Ok(None);
                        }
                        args.push(take_argument(input, bulk_len));
                        *args_bytes += bulk_len;
                        if *args_bytes > self.limits.max_query_buffer_len {
                            return Err(ProtocolError::QueryBufferLimitExceeded);
                        }
                        input.advance(2);
                        *pending_bulk_len = None;
                        *remaining -= 1;
                    }
                    let args = std::mem::take(args);
                    self.state = ParserState::Idle;
                    return Ok(Some(args));
                }
            }
        }
    }

    /// Reads `*<count>\r\n`. Returns the count (zero for `*0` and negatives,
    /// which are skipped), or `None` until the whole line is there.
    fn parse_multibulk_header(&self, input: &mut BytesMut) -> Result<Option<usize>, ProtocolError> {
        let Some(line_end) = memchr::memchr(b'\r', input) else {
            if input.len() > self.limits.max_inline_len {
                return Err(ProtocolError::MultibulkCountTooBig);
            }
            return Ok(None);
        };
        // The `\n` after the `\r` must be in the buffer too (Redis does not
        // check that it is a `\n`, only that it is there).
        if line_end + 2 > input.len() {
            return Ok(None);
        }
        let digits = input.get(1..line_end).unwrap_or_default();
        let count = parse_redis_integer(digits).ok_or(ProtocolError::InvalidMultibulkLength)?;
        let count = match usize::try_from(count) {
            Ok(count) if count > self.limits.max_multibulk_len => {
                return Err(ProtocolError::InvalidMultibulkLength);
            }
            Ok(count) => count,
            // Negative counts are not an error in Redis: the request is skipped.
            Err(_) => 0,
        };
        input.advance(line_end + 2);
        Ok(Some(count))
    }

    /// Reads one inline request (a line of words) including its newline.
    fn parse_inline(&self, input: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        let Some(newline) = memchr::memchr(b'\n', input) else {
            if input.len() > self.limits.max_inline_len {
                return Err(ProtocolError::InlineRequestTooBig);
            }
            return Ok(None);
        };
        let line = input.get(..newline).unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let args = split_inline_args(line)?;
        input.advance(newline + 1);
        Ok(Some(args))
    }
}

/// Reads `$<len>\r\n`, or returns `None` until the whole line is there.
fn parse_bulk_header(input: &mut BytesMut, limits: &ParserLimits) -> Result<Option<usize>, ProtocolError> {
    let Some(line_end) = memchr::memchr(b'\r', input) else {
        if input.len() > limits.max_inline_len {
            return Err(ProtocolError::BulkCountTooBig);
        }
        return Ok(None);
    };
    if line_end + 2 > input.len() {
        return Ok(None);
    }
    match input.first() {
        Some(b'$') => {}
        Some(&other) => return Err(ProtocolError::ExpectedBulk(other)),
        None => return Ok(None),
    }
    let digits = input.get(1..line_end).unwrap_or_default();
    let len = parse_redis_integer(digits)
        .and_then(|len| usize::try_from(len).ok())
        .filter(|&len| len <= limits.max_bulk_len)
        .ok_or(ProtocolError::InvalidBulkLength)?;
    input.advance(line_end + 2);
    Ok(Some(len))
}

/// Redis's `string2ll`: an optional `-` and decimal digits, no leading zeros,
/// no `+`, no blanks, within `i64`. Anything else is not a length.
fn parse_redis_integer(text: &[u8]) -> Option<i64> {
    // LONG_STR_SIZE: longer strings cannot be an i64 and are rejected early.
    if text.is_empty() || text.len() > 20 {
        return None;
    }
    if text == b"0" {
        return Some(0);
    }
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
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

/// C's `isspace` in the "C" locale, which `sdssplitargs` uses between words.
fn is_c_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Splits an inline request into words exactly like Redis's `sdssplitargs`.
///
/// The C code walks a NUL-terminated string, so the line ends at its first NUL
/// byte and reading past the end yields 0; `byte_at` reproduces that.
fn split_inline_args(line: &[u8]) -> Result<Vec<Bytes>, ProtocolError> {
    let line = match memchr::memchr(0, line) {
        Some(nul) => line.get(..nul).unwrap_or_default(),
        None => line,
    };
    let byte_at = |index: usize| line.get(index).copied().unwrap_or(0);
    let mut args = Vec::new();
    let mut pos = 0;
    loop {
        while is_c_space(byte_at(pos)) {
            pos += 1;
        }
        if byte_at(pos) == 0 {
            return Ok(args);
        }
        let mut word = Vec::new();
        let mut in_double_quotes = false;
        let mut in_single_quotes = false;
        loop {
            let mut done = false;
            let byte = byte_at(pos);
            if in_double_quotes {
                let next = byte_at(pos + 1);
                if byte == b'\\'
                    && next == b'x'
                    && byte_at(pos + 2).is_ascii_hexdigit()
                    && byte_at(pos + 3).is_ascii_hexdigit()
                {
                    word.push(hex_value(byte_at(pos + 2)) * 16 + hex_value(byte_at(pos + 3)));
                    pos += 3;
                } else if byte == b'\\' && next != 0 {
                    pos += 1;
                    word.push(match next {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if byte == b'"' {
                    // A closing quote must end the word.
                    if next != 0 && !is_c_space(next) {
                        return Err(ProtocolError::UnbalancedQuotes);
                    }
                    done = true;
                } else if byte == 0 {
                    return Err(ProtocolError::UnbalancedQuotes);
                } else {
                    word.push(byte);
                }
            } else if in_single_quotes {
                let next = byte_at(pos + 1);
                if byte == b'\\' && next == b'\'' {
                    pos += 1;
                    word.push(b'\'');
                } else if byte == b'\'' {
                    if next != 0 && !is_c_space(next) {
                        return Err(ProtocolError::UnbalancedQuotes);
                    }
                    done = true;
                } else if byte == 0 {
                    return Err(ProtocolError::UnbalancedQuotes);
                } else {
                    word.push(byte);
                }
            } else {
                match byte {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => done = true,
                    b'"' => in_double_quotes = true,
                    b'\'' => in_single_quotes = true,
                    other => word.push(other),
                }
            }
            if byte_at(pos) != 0 {
                pos += 1;
            }
            if done {
                break;
            }
        }
        args.push(Bytes::from(word));
    }
}

/// The value of an ASCII hex digit (callers check `is_ascii_hexdigit` first).
/// Arguments shorter than this are copied out of the connection's read
/// buffer; longer ones are split off it without a copy.
const COPY_ARGUMENTS_BELOW: usize = 16 * 1024;

/// Takes the next `len` bytes as an argument. A small argument gets its own
/// allocation: a zero-copy slice would keep the whole read buffer it came
/// from alive for as long as the keyspace stores it (one 64-byte value could
/// pin 16 KiB). A large one is most of its buffer anyway, so it is split
/// off, as Redis does for big arguments.
fn take_argument(input: &mut BytesMut, len: usize) -> Bytes {
    if len < COPY_ARGUMENTS_BELOW {
        let argument = Bytes::copy_from_slice(&input[..len]);
        input.advance(len);
        argument
    } else {
        input.split_to(len).freeze()
    }
}

fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        b'A'..=b'F' => digit - b'A' + 10,
        _ => 0,
    }
}

/// Which protocol the client negotiated (`HELLO 3` switches to RESP3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    Resp2,
    Resp3,
}

/// A reply to a client. RESP3-only types degrade to their RESP2 equivalents
/// the way Redis does when encoded for a RESP2 client.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+OK`; `\r` and `\n` are written as spaces.
    SimpleString(String),
    /// `-ERR ...`, the text including its error code; `\r` and `\n` are
    /// written as spaces.
    Error(String),
    Integer(i64),
    Bulk(Bytes),
    /// A missing value: `$-1` in RESP2, `_` in RESP3.
    Null,
    Array(Vec<Reply>),
    /// A missing array: `*-1` in RESP2, `_` in RESP3.
    NullArray,
    Map(Vec<(Reply, Reply)>),
    /// Two-element pairs (ZRANGE WITHSCORES, HRANDFIELD WITHVALUES): a flat
    /// array in RESP2, an array of two-element arrays in RESP3, as Redis 7.
    Pairs(Vec<(Reply, Reply)>),
    Set(Vec<Reply>),
    Double(f64),
    Boolean(bool),
    /// Decimal digits of an arbitrarily large integer.
    BigNumber(String),
    /// Text with a three-byte format such as `*b"txt"` or `*b"mkd"`.
    Verbatim {
        format: [u8; 3],
        text: Bytes,
    },
    Push(Vec<Reply>),
}

impl Reply {
    /// Appends this reply to `out` in the client's protocol.
    pub fn encode(&self, protocol: Protocol, out: &mut BytesMut) {
        let resp3 = protocol == Protocol::Resp3;
        match self {
            Reply::SimpleString(text) => put_line(out, b'+', text.as_bytes()),
            Reply::Error(text) => put_line(out, b'-', text.as_bytes()),
            Reply::Integer(value) => {
                out.extend_from_slice(b":");
                put_decimal(out, *value);
                out.extend_from_slice(b"\r\n");
            }
            Reply::Bulk(bytes) => put_bulk(out, bytes),
            Reply::Null if resp3 => out.extend_from_slice(b"_\r\n"),
            Reply::Null => out.extend_from_slice(b"$-1\r\n"),
            Reply::NullArray if resp3 => out.extend_from_slice(b"_\r\n"),
            Reply::NullArray => out.extend_from_slice(b"*-1\r\n"),
            Reply::Array(items) => put_aggregate(out, protocol, b'*', items),
            Reply::Set(items) => put_aggregate(out, protocol, if resp3 { b'~' } else { b'*' }, items),
            Reply::Push(items) => put_aggregate(out, protocol, if resp3 { b'>' } else { b'*' }, items),
            Reply::Map(pairs) => {
                // RESP2 has no map: Redis sends the keys and values as one
                // flat array of twice the length.
                let (marker, count) = if resp3 {
                    (b'%', pairs.len())
                } else {
                    (b'*', pairs.len() * 2)
                };
                put_header(out, marker, count);
                for (key, value) in pairs {
                    key.encode(protocol, out);
                    value.encode(protocol, out);
                }
            }
            Reply::Pairs(pairs) if resp3 => {
                put_header(out, b'*', pairs.len());
                for (first, second) in pairs {
                    put_header(out, b'*', 2);
                    first.encode(protocol, out);
                    second.encode(protocol, out);
                }
            }
            Reply::Pairs(pairs) => {
                put_header(out, b'*', pairs.len() * 2);
                for (first, second) in pairs {
                    first.encode(protocol, out);
                    second.encode(protocol, out);
                }
            }
            Reply::Double(value) => {
                let text = format_double(*value);
                if resp3 {
                    put_line(out, b',', text.as_bytes());
                } else {
                    put_bulk(out, text.as_bytes());
                }
            }
            Reply::Boolean(value) if resp3 => out.extend_from_slice(if *value { b"#t\r\n" } else { b"#f\r\n" }),
            Reply::Boolean(value) => out.extend_from_slice(if *value { b":1\r\n" } else { b":0\r\n" }),
            Reply::BigNumber(digits) if resp3 => put_line(out, b'(', digits.as_bytes()),
            Reply::BigNumber(digits) => put_bulk(out, digits.as_bytes()),
            Reply::Verbatim { format, text } if resp3 => {
                put_header(out, b'=', text.len() + format.len() + 1);
                out.extend_from_slice(format);
                out.extend_from_slice(b":");
                out.extend_from_slice(text);
                out.extend_from_slice(b"\r\n");
            }
            // RESP2 clients get the text alone, as Redis's addReplyVerbatim does.
            Reply::Verbatim { text, .. } => put_bulk(out, text),
        }
    }

    /// Encodes this reply into a new buffer.
    pub fn to_bytes(&self, protocol: Protocol) -> Bytes {
        let mut out = BytesMut::new();
        self.encode(protocol, &mut out);
        out.freeze()
    }
}

/// Writes `<marker><text>\r\n`. A line reply cannot carry `\r` or `\n`, which
/// would end it early and let the rest be read as another reply, so they are
/// replaced with spaces as Redis does for error texts.
fn put_line(out: &mut BytesMut, marker: u8, text: &[u8]) {
    out.reserve(text.len() + 3);
    out.extend_from_slice(&[marker]);
    let start = out.len();
    out.extend_from_slice(text);
    // Almost every line is clean; only rewrite the rare one that is not.
    if memchr::memchr2(b'\r', b'\n', text).is_some() {
        for byte in out.get_mut(start..).unwrap_or_default() {
            if *byte == b'\r' || *byte == b'\n' {
                *byte = b' ';
            }
        }
    }
    out.extend_from_slice(b"\r\n");
}

fn put_bulk(out: &mut BytesMut, bytes: &[u8]) {
    put_header(out, b'$', bytes.len());
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

fn put_aggregate(out: &mut BytesMut, protocol: Protocol, marker: u8, items: &[Reply]) {
    put_header(out, marker, items.len());
    for item in items {
        item.encode(protocol, out);
    }
}

/// Writes `<marker><count>\r\n`.
fn put_header(out: &mut BytesMut, marker: u8, count: usize) {
    out.extend_from_slice(&[marker]);
    put_decimal(out, i128::try_from(count).unwrap_or(i128::MAX));
    out.extend_from_slice(b"\r\n");
}

/// Writes an integer in decimal without going through a `String`.
fn put_decimal(out: &mut BytesMut, value: impl Into<i128>) {
    let value: i128 = value.into();
    // 40 digits and a sign hold any i128.
    let mut digits = [0u8; 41];
    let mut start = digits.len();
    let mut magnitude = value.unsigned_abs();
    loop {
        start -= 1;
        // `magnitude % 10` is below 10, so the cast cannot truncate.
        digits[start] = b'0' + (magnitude % 10) as u8;
        magnitude /= 10;
        if magnitude == 0 {
            break;
        }
    }
    if value < 0 {
        start -= 1;
        digits[start] = b'-';
    }
    out.extend_from_slice(&digits[start..]);
}

/// Formats a double like C's `printf("%.17g")`, which Redis uses for double
/// replies, with infinities spelled `inf` / `-inf` as Redis spells them
/// explicitly, and NaN as `nan`.
pub fn format_double(value: f64) -> String {
    if value.is_nan() {
        return "nan".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    const SIGNIFICANT_DIGITS: i32 = 17;
    // Rust's `{:e}` with a precision rounds correctly, as glibc does; its
    // exponent is the one `%g` uses to choose between fixed and scientific.
    let scientific = format!("{:.16e}", value.abs());
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((scientific.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    let sign = if value.is_sign_negative() { "-" } else { "" };
    if !(-4..SIGNIFICANT_DIGITS).contains(&exponent) {
        let (first, rest) = digits
            .split_first()
            .map_or((b'0', &[][..]), |(first, rest)| (*first, rest));
        let fraction = trim_trailing_zeros(rest);
        let point = if fraction.is_empty() { "" } else { "." };
        let exponent_sign = if exponent < 0 { '-' } else { '+' };
        format!(
            "{sign}{}{point}{}e{exponent_sign}{:02}",
            char::from(first),
            String::from_utf8_lossy(fraction),
            exponent.unsigned_abs()
        )
    } else if exponent >= 0 {
        let split = usize::try_from(exponent + 1).unwrap_or(0).min(digits.len());
        let (integer, fraction) = digits.split_at(split);
        let fraction = trim_trailing_zeros(fraction);
        let point = if fraction.is_empty() { "" } else { "." };
        format!(
            "{sign}{}{point}{}",
            String::from_utf8_lossy(integer),
            String::from_utf8_lossy(fraction)
        )
    } else {
        let leading_zeros = usize::try_from(-exponent - 1).unwrap_or(0);
        let fraction = trim_trailing_zeros(&digits);
        format!(
            "{sign}0.{}{}",
            "0".repeat(leading_zeros),
            String::from_utf8_lossy(fraction)
        )
    }
}

fn trim_trailing_zeros(digits: &[u8]) -> &[u8] {
    let end = digits
        .iter()
        .rposition(|&digit| digit != b'0')
        .map_or(0, |last| last + 1);
    digits.get(..end).unwrap_or_default()
}

/// Encodes a command the way clients send it: a multibulk of bulk strings.
pub fn encode_command(args: &[Bytes], out: &mut BytesMut) {
    put_header(out, b'*', args.len());
    for arg in args {
        put_bulk(out, arg);
    }
}

/// Fuzz entry point (`fuzz/fuzz_targets/resp_request.rs`): parses `data` whole,
/// then split in two at `data[0]`, and panics if the parser panics or if the
/// two runs disagree, since a streaming parser must not depend on how the
/// bytes were split. Every command parsed must also survive re-encoding.
pub fn fuzz_request(data: &[u8]) {
    let whole = parse_chunks(&[data]);
    let split_at = data.first().map_or(0, |&first| usize::from(first)).min(data.len());
    let (head, tail) = data.split_at(split_at);
    let split = parse_chunks(&[head, tail]);
    assert_eq!(whole, split, "the parse depends on where the input was split");
    let (commands, _) = whole;
    for command in commands {
        let mut encoded = BytesMut::new();
        encode_command(&command, &mut encoded);
        let reparsed = RequestParser::default().parse(&mut encoded);
        assert_eq!(reparsed, Ok(Some(command)), "a parsed command does not round-trip");
        assert!(encoded.is_empty(), "re-encoding left bytes behind");
    }
}

/// Feeds `chunks` to one parser in order, collecting commands until the
/// parser needs more than the last chunk or reports an error.
fn parse_chunks(chunks: &[&[u8]]) -> (Vec<Vec<Bytes>>, Option<ProtocolError>) {
    let mut parser = RequestParser::default();
    let mut buffer = BytesMut::new();
    let mut commands = Vec::new();
    for chunk in chunks {
        buffer.extend_from_slice(chunk);
        loop {
            match parser.parse(&mut buffer) {
                Ok(Some(command)) => commands.push(command),
                Ok(None) => break,
                Err(error) => return (commands, Some(error)),
            }
        }
    }
    (commands, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse_all(input: &[u8]) -> (Vec<Vec<Bytes>>, Option<ProtocolError>) {
        parse_chunks(&[input])
    }

    fn command(words: &[&[u8]]) -> Vec<Bytes> {
        words.iter().map(|word| Bytes::copy_from_slice(word)).collect()
    }

    fn parse_error(input: &[u8]) -> String {
        match parse_all(input) {
            (_, Some(error)) => error.to_redis_error(),
            (commands, None) => panic!("no error for {input:?}, parsed {commands:?}"),
        }
    }

    #[test]
    fn multibulk_set_round_trips() {
        let args = command(&[b"SET", b"key", b"va\r\nlue"]);
        let mut buffer = BytesMut::new();
        encode_command(&args, &mut buffer);
        assert_eq!(&buffer[..], b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$7\r\nva\r\nlue\r\n");
        let mut parser = RequestParser::default();
        assert_eq!(parser.parse(&mut buffer), Ok(Some(args)));
        assert!(buffer.is_empty());
        assert_eq!(parser.parse(&mut buffer), Ok(None));
    }

    #[test]
    fn pipelined_commands_come_out_in_order() {
        let (commands, error) = parse_all(b"*1\r\n$4\r\nPING\r\nECHO hi\r\n*2\r\n$3\r\nGET\r\n$0\r\n\r\n");
        assert_eq!(error, None);
        assert_eq!(
            commands,
            vec![command(&[b"PING"]), command(&[b"ECHO", b"hi"]), command(&[b"GET", b""])]
        );
    }

    #[test]
    fn empty_and_null_arrays_are_skipped() {
        let (commands, error) = parse_all(b"*0\r\n*-1\r\n*-7\r\n*1\r\n$4\r\nPING\r\n");
        assert_eq!(error, None);
        assert_eq!(commands, vec![command(&[b"PING"])]);
    }

    #[test]
    fn incomplete_requests_wait_for_more_bytes() {
        for partial in [
            &b"*"[..],
            b"*2",
            b"*2\r",
            b"*2\r\n$3",
            b"*2\r\n$3\r",
            b"*2\r\n$3\r\nGET",
            b"*2\r\n$3\r\nGET\r",
            b"*2\r\n$3\r\nGET\r\n",
            b"GET key",
            b"GET \"key",
        ] {
            let mut buffer = BytesMut::from(partial);
            assert_eq!(RequestParser::default().parse(&mut buffer), Ok(None), "{partial:?}");
        }
    }

    #[test]
    fn byte_at_a_time_yields_the_same_commands() {
        let input = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nset a 'b c'\r\n\r\n*1\r\n$4\r\nPING\r\n";
        let chunks: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(parse_chunks(&chunks), parse_all(input));
        assert_eq!(parse_all(input).0.len(), 3);
    }

    #[test]
    fn announced_lengths_reserve_nothing_before_the_bytes_arrive() {
        let mut parser = RequestParser::default();
        let mut buffer = BytesMut::from(&b"*1073741824\r\n$536870912\r\nab"[..]);
        assert_eq!(parser.parse(&mut buffer), Ok(None));
        assert_eq!(&buffer[..], b"ab");
        match &parser.state {
            ParserState::Multibulk { args, .. } => assert!(args.capacity() <= MAX_PREALLOCATED_ARGS),
            other => panic!("unexpected state {other:?}"),
        }
        assert!(buffer.capacity() < 1024 * 1024);
    }

    #[test]
    fn inline_commands_split_on_blanks() {
        let (commands, error) = parse_all(b"SET  key\tvalue\r\n\r\n   \nPING\n");
        assert_eq!(error, None);
        assert_eq!(
            commands,
            vec![command(&[b"SET", b"key", b"value"]), command(&[b"PING"])]
        );
    }

    #[test]
    fn inline_quoting_follows_sdssplitargs() {
        let cases: &[(&[u8], &[&[u8]])] = &[
            (b"set \"a b\" 'c d'", &[b"set", b"a b", b"c d"]),
            (b"\"\\n\\r\\t\\b\\a\\\\\\\"\\q\"", &[b"\n\r\t\x08\x07\\\"q"]),
            (b"\"\\x41\\x7a\\xff\" \"\\x4g\"", &[b"Az\xff", b"x4g"]),
            (b"'it\\'s' 'a\\b\"c'", &[b"it's", b"a\\b\"c"]),
            (b"\"\" ''", &[b"", b""]),
            (b"ab\"c d\"", &[b"abc d"]),
            (b"a\x00b c", &[b"a"]),
        ];
        for (line, expected) in cases {
            let mut input = line.to_vec();
            input.extend_from_slice(b"\r\n");
            let (commands, error) = parse_all(&input);
            assert_eq!(error, None, "{line:?}");
            assert_eq!(commands, vec![command(expected)], "{line:?}");
        }
    }

    #[test]
    fn unbalanced_quotes_are_a_protocol_error() {
        for line in [
            &b"get \"key\r\n"[..],
            b"get 'key\n",
            b"get \"a\"b\n",
            b"get 'a'b\n",
            b"get \"a\\\"\n",
        ] {
            assert_eq!(
                parse_error(line),
                "-ERR Protocol error: unbalanced quotes in request",
                "{line:?}"
            );
        }
    }

    #[test]
    fn invalid_bulk_lengths() {
        for input in [
            &b"*1\r\n$-1\r\n"[..],
            b"*1\r\n$abc\r\n",
            b"*1\r\n$\r\n",
            b"*1\r\n$01\r\n",
            b"*1\r\n$+1\r\n",
            b"*1\r\n$536870913\r\n",
            b"*1\r\n$99999999999999999999\r\n",
        ] {
            assert_eq!(
                parse_error(input),
                "-ERR Protocol error: invalid bulk length",
                "{input:?}"
            );
        }
        // proto-max-bulk-len itself is allowed.
        assert_eq!(parse_all(b"*1\r\n$536870912\r\n"), (vec![], None));
    }

    #[test]
    fn invalid_multibulk_lengths() {
        for input in [
            &b"*abc\r\n"[..],
            b"*\r\n",
            b"*1073741825\r\n",
            b"*-\r\n",
            b"*-0\r\n",
            b"*1 \r\n",
        ] {
            assert_eq!(
                parse_error(input),
                "-ERR Protocol error: invalid multibulk length",
                "{input:?}"
            );
        }
        assert_eq!(parse_all(b"*1073741824\r\n"), (vec![], None));
    }

    #[test]
    fn overlong_lines_without_newline() {
        let inline = vec![b'a'; PROTO_INLINE_MAX_SIZE + 1];
        assert_eq!(parse_error(&inline), "-ERR Protocol error: too big inline request");
        assert_eq!(parse_all(&inline[1..]), (vec![], None));

        let mut multibulk = vec![b'*'];
        multibulk.resize(PROTO_INLINE_MAX_SIZE + 1, b'1');
        assert_eq!(
            parse_error(&multibulk),
            "-ERR Protocol error: too big mbulk count string"
        );

        let mut bulk = b"*1\r\n$".to_vec();
        bulk.resize(bulk.len() + PROTO_INLINE_MAX_SIZE, b'1');
        assert_eq!(parse_error(&bulk), "-ERR Protocol error: too big bulk count string");
    }

    #[test]
    fn expected_dollar() {
        assert_eq!(
            parse_error(b"*1\r\nx3\r\nfoo\r\n"),
            "-ERR Protocol error: expected '$', got 'x'"
        );
        assert_eq!(parse_error(b"*1\r\n\r\n"), "-ERR Protocol error: expected '$', got ' '");
        assert_eq!(
            ProtocolError::ExpectedBulk(b':').to_reply().to_bytes(Protocol::Resp2),
            Bytes::from_static(b"-ERR Protocol error: expected '$', got ':'\r\n")
        );
    }

    #[test]
    fn query_buffer_limit() {
        let limits = ParserLimits {
            max_query_buffer_len: 16,
            ..ParserLimits::default()
        };
        let mut parser = RequestParser::new(limits);
        let mut buffer = BytesMut::from(&b"*1\r\n$20\r\n0123456789"[..]);
        assert_eq!(parser.parse(&mut buffer), Err(ProtocolError::QueryBufferLimitExceeded));
        assert_eq!(
            ProtocolError::QueryBufferLimitExceeded.to_redis_error(),
            "-ERR Protocol error: query buffer limit exceeded"
        );
    }

    #[test]
    fn arguments_of_an_unfinished_request_count_against_the_query_buffer() {
        let limits = ParserLimits {
            max_query_buffer_len: 64,
            ..ParserLimits::default()
        };
        let mut parser = RequestParser::new(limits);
        let mut buffer = BytesMut::new();
        buffer.extend_from_slice(b"*1000\r\n");
        // Each argument is consumed from the buffer as it arrives; the
        // parser's own copy of them is what grows.
        let mut outcome = Ok(None);
        for _ in 0..10 {
            buffer.extend_from_slice(b"$10\r\n0123456789\r\n");
            outcome = parser.parse(&mut buffer);
            if outcome.is_err() {
                break;
            }
            assert!(buffer.is_empty());
        }
        assert_eq!(outcome, Err(ProtocolError::QueryBufferLimitExceeded));
        let mut fresh = RequestParser::new(limits);
        let mut two = BytesMut::from(&b"*2\r\n$3\r\nabc\r\n"[..]);
        assert_eq!(fresh.parse(&mut two), Ok(None));
        assert_eq!(fresh.partial_bytes(), 3);
    }

    #[test]
    fn errors_are_sticky() {
        let mut parser = RequestParser::default();
        let mut buffer = BytesMut::from(&b"*x\r\n"[..]);
        assert_eq!(parser.parse(&mut buffer), Err(ProtocolError::InvalidMultibulkLength));
        buffer.extend_from_slice(b"PING\r\n");
        assert_eq!(parser.parse(&mut buffer), Err(ProtocolError::InvalidMultibulkLength));
    }

    #[test]
    fn redis_integers() {
        assert_eq!(parse_redis_integer(b"0"), Some(0));
        assert_eq!(parse_redis_integer(b"-1"), Some(-1));
        assert_eq!(parse_redis_integer(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_redis_integer(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"00",
            b"+1",
            b" 1",
            b"1a",
            b"9223372036854775808",
        ] {
            assert_eq!(parse_redis_integer(bad), None, "{bad:?}");
        }
    }

    fn encodings(reply: &Reply) -> (Bytes, Bytes) {
        (reply.to_bytes(Protocol::Resp2), reply.to_bytes(Protocol::Resp3))
    }

    #[test]
    fn every_reply_in_both_protocols() {
        let bulk = |text: &'static [u8]| Reply::Bulk(Bytes::from_static(text));
        let cases: Vec<(Reply, &[u8], &[u8])> = vec![
            (Reply::SimpleString("OK".into()), b"+OK\r\n", b"+OK\r\n"),
            (Reply::SimpleString("a\r\nb".into()), b"+a  b\r\n", b"+a  b\r\n"),
            (Reply::Error("ERR no".into()), b"-ERR no\r\n", b"-ERR no\r\n"),
            (Reply::Integer(-42), b":-42\r\n", b":-42\r\n"),
            (
                Reply::Integer(i64::MIN),
                b":-9223372036854775808\r\n",
                b":-9223372036854775808\r\n",
            ),
            (bulk(b"hi"), b"$2\r\nhi\r\n", b"$2\r\nhi\r\n"),
            (bulk(b""), b"$0\r\n\r\n", b"$0\r\n\r\n"),
            (Reply::Null, b"$-1\r\n", b"_\r\n"),
            (Reply::NullArray, b"*-1\r\n", b"_\r\n"),
            (
                Reply::Pairs(vec![(bulk(b"m"), Reply::Double(1.5))]),
                b"*2\r\n$1\r\nm\r\n$3\r\n1.5\r\n",
                b"*1\r\n*2\r\n$1\r\nm\r\n,1.5\r\n",
            ),
            (
                Reply::Array(vec![Reply::Integer(1), bulk(b"a")]),
                b"*2\r\n:1\r\n$1\r\na\r\n",
                b"*2\r\n:1\r\n$1\r\na\r\n",
            ),
            (Reply::Array(vec![]), b"*0\r\n", b"*0\r\n"),
            (
                Reply::Map(vec![(bulk(b"k"), Reply::Integer(1)), (bulk(b"n"), Reply::Null)]),
                b"*4\r\n$1\r\nk\r\n:1\r\n$1\r\nn\r\n$-1\r\n",
                b"%2\r\n$1\r\nk\r\n:1\r\n$1\r\nn\r\n_\r\n",
            ),
            (
                Reply::Set(vec![bulk(b"x"), Reply::Boolean(true)]),
                b"*2\r\n$1\r\nx\r\n:1\r\n",
                b"~2\r\n$1\r\nx\r\n#t\r\n",
            ),
            (Reply::Double(3.0), b"$1\r\n3\r\n", b",3\r\n"),
            (Reply::Double(1.5), b"$3\r\n1.5\r\n", b",1.5\r\n"),
            (Reply::Double(f64::INFINITY), b"$3\r\ninf\r\n", b",inf\r\n"),
            (Reply::Double(f64::NEG_INFINITY), b"$4\r\n-inf\r\n", b",-inf\r\n"),
            (Reply::Boolean(true), b":1\r\n", b"#t\r\n"),
            (Reply::Boolean(false), b":0\r\n", b"#f\r\n"),
            (
                Reply::BigNumber("3492890328409238509324850943850943825024385".into()),
                b"$43\r\n3492890328409238509324850943850943825024385\r\n",
                b"(3492890328409238509324850943850943825024385\r\n",
            ),
            (
                Reply::Verbatim {
                    format: *b"txt",
                    text: Bytes::from_static(b"Some string"),
                },
                b"$11\r\nSome string\r\n",
                b"=15\r\ntxt:Some string\r\n",
            ),
            (
                Reply::Push(vec![bulk(b"message"), Reply::Array(vec![Reply::Null])]),
                b"*2\r\n$7\r\nmessage\r\n*1\r\n$-1\r\n",
                b">2\r\n$7\r\nmessage\r\n*1\r\n_\r\n",
            ),
        ];
        for (reply, resp2, resp3) in cases {
            let (got2, got3) = encodings(&reply);
            assert_eq!(got2, Bytes::from_static(resp2), "RESP2 {reply:?}");
            assert_eq!(got3, Bytes::from_static(resp3), "RESP3 {reply:?}");
        }
    }

    #[test]
    fn doubles_format_like_printf_17g() {
        // Expected values are glibc's printf("%.17g").
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (3.0, "3"),
            (-2.5, "-2.5"),
            (0.1, "0.10000000000000001"),
            (1.0 / 3.0, "0.33333333333333331"),
            (0.0001, "0.0001"),
            (0.00001, "1.0000000000000001e-05"),
            (1e16, "10000000000000000"),
            (1e17, "1e+17"),
            (123456789.125, "123456789.125"),
            (1e300, "1.0000000000000001e+300"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "4.9406564584124654e-324"),
            (5e-6, "5.0000000000000004e-06"),
            (2.5e-16, "2.5000000000000002e-16"),
            // Exact ties at the 17th digit round half to even, as glibc does.
            (1_234_567_890_123_456.0 + 0.25, "1234567890123456.2"),
            (1_234_567_890_123_456.0 + 0.75, "1234567890123456.8"),
            (f64::NAN, "nan"),
        ];
        for (value, expected) in cases {
            assert_eq!(format_double(*value), *expected, "{value:e}");
        }
    }

    #[test]
    fn fuzz_entry_point_handles_seeds() {
        for input in [
            &b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"[..],
            b"set \"a\\x41\" 'b'\r\n",
            b"*2\r\n$3\r\nGE",
            b"*1\r\n$-5\r\n",
            b"",
            b"\xff",
        ] {
            fuzz_request(input);
        }
    }

    fn arbitrary_command() -> impl Strategy<Value = Vec<Bytes>> {
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from), 1..6)
    }

    proptest! {
        #[test]
        fn split_multibulk_streams_yield_exactly_the_commands(
            commands in prop::collection::vec(arbitrary_command(), 1..8),
            mut split_points in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        ) {
            let mut stream = BytesMut::new();
            for command in &commands {
                encode_command(command, &mut stream);
            }
            let mut cuts: Vec<usize> = split_points.drain(..).map(|index| index.index(stream.len() + 1)).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut start = 0;
            for cut in cuts.into_iter().chain([stream.len()]) {
                chunks.push(&stream[start..cut]);
                start = cut;
            }
            let (parsed, error) = parse_chunks(&chunks);
            prop_assert_eq!(error, None);
            prop_assert_eq!(parsed, commands);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..256)) {
            fuzz_request(&data);
        }
    }
}
