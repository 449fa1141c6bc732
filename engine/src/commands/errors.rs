//! Command errors, with Redis 7.0's exact texts: clients and test suites
//! match on them.

use crate::keyspace::access::WrongType;
use crate::resp::Reply;

pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
pub const NOT_FLOAT: &str = "ERR value is not a valid float";
pub const SYNTAX: &str = "ERR syntax error";
pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
pub const NOT_POSITIVE: &str = "ERR value is out of range, must be positive";
pub const NO_SUCH_KEY: &str = "ERR no such key";
pub const NAN_OR_INFINITY: &str = "ERR increment would produce NaN or Infinity";
pub const STRING_TOO_LONG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
pub const DB_OUT_OF_RANGE: &str = "ERR DB index is out of range";

/// Why a command failed; becomes the error reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdError {
    /// One of the fixed texts above.
    Static(&'static str),
    /// A text built for this error, including its code (`ERR ...`).
    Text(String),
    /// Wrong number of arguments for the command being run.
    Arity,
    /// `ERR invalid expire time in '<command>' command`.
    InvalidExpire,
}

pub type CmdResult = Result<Reply, CmdError>;

impl CmdError {
    pub const WRONG_TYPE: CmdError = CmdError::Static(WRONGTYPE);
    pub const NOT_INTEGER: CmdError = CmdError::Static(NOT_INTEGER);
    pub const NOT_FLOAT: CmdError = CmdError::Static(NOT_FLOAT);
    pub const SYNTAX: CmdError = CmdError::Static(SYNTAX);
    pub const OVERFLOW: CmdError = CmdError::Static(OVERFLOW);
    pub const NOT_POSITIVE: CmdError = CmdError::Static(NOT_POSITIVE);

    /// Refuses a write whose effects would weigh `bytes`
    /// ([`super::effect_bytes`]) when the command may add at most `room`
    /// to its journal record ([`super::ExecCtx::effect_room`]). Checked
    /// before the write changes anything, so a refused write leaves no
    /// trace.
    pub fn admit_effects(bytes: usize, room: usize) -> Result<(), CmdError> {
        if bytes <= room {
            return Ok(());
        }
        Err(CmdError::Text(format!(
            "ERR write of {bytes} bytes exceeds the largest write the journal takes ({room} bytes)"
        )))
    }

    /// The reply for this error raised by command `name` (lower case).
    pub fn into_reply(self, name: &str) -> Reply {
        match self {
            CmdError::Static(text) => Reply::Error(text.to_owned()),
            CmdError::Text(text) => Reply::Error(text),
            CmdError::Arity => arity_error(name),
            CmdError::InvalidExpire => Reply::Error(format!("ERR invalid expire time in '{name}' command")),
        }
    }
}

impl From<WrongType> for CmdError {
    fn from(_: WrongType) -> Self {
        CmdError::WRONG_TYPE
    }
}

/// `ERR wrong number of arguments for 'get' command`.
pub fn arity_error(name: &str) -> Reply {
    Reply::Error(format!("ERR wrong number of arguments for '{name}' command"))
}

/// Redis prints arguments with `%s`, which stops at a NUL byte.
fn c_string(bytes: &[u8]) -> &[u8] {
    let end = memchr::memchr(0, bytes).unwrap_or(bytes.len());
    bytes.get(..end).unwrap_or_default()
}

/// `ERR unknown command 'foo', with args beginning with: 'a' 'b' `, with
/// Redis's limits: the name cut at 128 bytes, arguments added while the
/// list is under 128 bytes, each cut to what is left of the 128.
pub fn unknown_command_error(argv: &[bytes::Bytes]) -> Reply {
    const LIMIT: usize = 128;
    let name = argv.first().map(|name| c_string(name)).unwrap_or_default();
    let name = name.get(..name.len().min(LIMIT)).unwrap_or_default();
    let mut args: Vec<u8> = Vec::new();
    for arg in argv.iter().skip(1) {
        if args.len() >= LIMIT {
            break;
        }
        let arg = c_string(arg);
        let room = LIMIT - args.len();
        args.push(b'\'');
        args.extend_from_slice(arg.get(..arg.len().min(room)).unwrap_or_default());
        args.extend_from_slice(b"' ");
    }
    Reply::Error(format!(
        "ERR unknown command '{}', with args beginning with: {}",
        String::from_utf8_lossy(name),
        String::from_utf8_lossy(&args)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn error_text(reply: Reply) -> String {
        match reply {
            Reply::Error(text) => text,
            other => panic!("not an error: {other:?}"),
        }
    }

    #[test]
    fn unknown_command_texts() {
        let argv = |words: &[&str]| {
            words
                .iter()
                .map(|w| Bytes::copy_from_slice(w.as_bytes()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            error_text(unknown_command_error(&argv(&["foo", "a", "b"]))),
            "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        );
        assert_eq!(
            error_text(unknown_command_error(&argv(&["foo"]))),
            "ERR unknown command 'foo', with args beginning with: "
        );
        let long = "x".repeat(200);
        let text = error_text(unknown_command_error(&argv(&["foo", &long, "next"])));
        assert_eq!(
            text,
            format!(
                "ERR unknown command 'foo', with args beginning with: '{}' ",
                "x".repeat(128)
            )
        );
        let name = "n".repeat(300);
        assert!(error_text(unknown_command_error(&argv(&[&name]))).contains(&format!("'{}'", "n".repeat(128))));
    }

    #[test]
    fn arity_text() {
        assert_eq!(
            error_text(arity_error("get")),
            "ERR wrong number of arguments for 'get' command"
        );
        assert_eq!(
            error_text(CmdError::InvalidExpire.into_reply("set")),
            "ERR invalid expire time in 'set' command"
        );
    }
}
