//! Whole-database commands: DBSIZE, FLUSHDB, FLUSHALL, and the data side
//! of SWAPDB.

use bytes::Bytes;

use super::args::{self, is};
use super::errors::{CmdError, CmdResult, DB_OUT_OF_RANGE};
use super::ExecCtx;
use crate::keyspace::access::DbAccess;
use crate::keyspace::Keyspace;
use crate::resp::Reply;

pub fn dbsize(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    if argv.len() != 1 {
        return Err(CmdError::Arity);
    }
    Ok(Reply::Integer(i64::try_from(db.db().len()).unwrap_or(i64::MAX)))
}

/// FLUSHDB / FLUSHALL accept ASYNC or SYNC (both flush inline here).
fn check_flush_mode(argv: &[Bytes]) -> Result<(), CmdError> {
    match argv {
        [_] => Ok(()),
        [_, mode] if is(mode, "ASYNC") || is(mode, "SYNC") => Ok(()),
        _ => Err(CmdError::SYNTAX),
    }
}

pub fn flushdb(ks: &mut Keyspace, ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> CmdResult {
    check_flush_mode(argv)?;
    let db = u32::try_from(ctx.db).map_err(|_| CmdError::Static(DB_OUT_OF_RANGE))?;
    if ctx.db >= ks.databases() {
        return Err(CmdError::Static(DB_OUT_OF_RANGE));
    }
    ks.flush_db(ctx.db);
    ctx.effects.push(super::Effect {
        db,
        argv: vec![Bytes::from_static(b"FLUSHDB")],
    });
    Ok(Reply::SimpleString("OK".to_owned()))
}

pub fn flushall(ks: &mut Keyspace, ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> CmdResult {
    check_flush_mode(argv)?;
    ks.clear();
    ctx.effects.push(super::Effect {
        db: u32::try_from(ctx.db).unwrap_or(0),
        argv: vec![Bytes::from_static(b"FLUSHALL")],
    });
    Ok(Reply::SimpleString("OK".to_owned()))
}

/// SWAPDB index1 index2, the keyspace side: the node runs it for clients
/// (it also has to wake watchers and blocked clients) and [`Keyspace::apply`]
/// runs it for effects. Pushes `SWAPDB a b` as its effect.
pub fn swapdb(ks: &mut Keyspace, ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let [_, first, second] = argv else {
        return super::arity_error("swapdb");
    };
    // Redis parses both as integers first; a negative one is then out of
    // range rather than invalid.
    let Ok(first_index) = args::int(first) else {
        return Reply::Error("ERR invalid first DB index".to_owned());
    };
    let Ok(second_index) = args::int(second) else {
        return Reply::Error("ERR invalid second DB index".to_owned());
    };
    let (Ok(first_index), Ok(second_index)) = (usize::try_from(first_index), usize::try_from(second_index)) else {
        return Reply::Error(DB_OUT_OF_RANGE.to_owned());
    };
    if !ks.swap_databases(first_index, second_index) {
        return Reply::Error(DB_OUT_OF_RANGE.to_owned());
    }
    ctx.effects.push(super::Effect {
        db: u32::try_from(ctx.db).unwrap_or(0),
        argv: vec![Bytes::from_static(b"SWAPDB"), first.clone(), second.clone()],
    });
    Reply::SimpleString("OK".to_owned())
}
