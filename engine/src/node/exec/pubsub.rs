//! Pub/sub: SUBSCRIBE, PSUBSCRIBE, their UNSUBSCRIBEs, PUBLISH and PUBSUB.
//!
//! Publishing is not journaled (Redis does not persist messages either).
//! A message is queued on each subscriber's reply channel from this
//! thread, so every subscriber gets messages in publish order and after
//! the replies it was already owed. A message carries the publisher's
//! newest reply barrier: it is not delivered before the writes the
//! publisher was told about (or will be told about) have committed, and is
//! dropped if they failed, so no subscriber learns of a write that could
//! still be lost.
//!
//! Output bound: a subscriber whose unwritten output passes its class's
//! `client-output-buffer-limit` (pubsub 32mb 8mb 60 by default) is
//! disconnected (see `client_limits.rs`).

use bytes::Bytes;
use hashbrown::HashMap;

use super::{Exec, Outcome, Outgoing, PendingReply};
use crate::commands::glob;
use crate::resp::{Protocol, Reply};

/// Subscribers per channel and per pattern, in subscription order.
#[derive(Default)]
pub(super) struct Registry {
    channels: HashMap<Bytes, Vec<u64>>,
    patterns: HashMap<Bytes, Vec<u64>>,
}

fn bulk(b: &Bytes) -> Reply {
    Reply::Bulk(b.clone())
}

fn word(s: &'static str) -> Reply {
    Reply::Bulk(Bytes::from_static(s.as_bytes()))
}

fn count(n: usize) -> Reply {
    Reply::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

impl Exec {
    fn subscription_count(&self, conn: u64) -> usize {
        self.sessions
            .get(&conn)
            .map_or(0, |s| s.channels.len() + s.patterns.len())
    }

    /// SUBSCRIBE / PSUBSCRIBE: one confirmation per argument (Redis sends
    /// them as separate replies; they are pushes in RESP3).
    pub(super) fn subscribe(&mut self, conn: u64, argv: &[Bytes], pattern: bool) -> Outcome {
        let mut replies = Vec::with_capacity(argv.len() - 1);
        for name in &argv[1..] {
            let name = Bytes::copy_from_slice(name);
            let Some(session) = self.sessions.get_mut(&conn) else {
                break;
            };
            let set = if pattern {
                &mut session.patterns
            } else {
                &mut session.channels
            };
            if set.insert(name.clone()) {
                let registry = if pattern {
                    &mut self.pubsub.patterns
                } else {
                    &mut self.pubsub.channels
                };
                registry.entry(name.clone()).or_default().push(conn);
            }
            let total = self.subscription_count(conn);
            replies.push(Reply::Push(vec![
                word(if pattern { "psubscribe" } else { "subscribe" }),
                bulk(&name),
                count(total),
            ]));
        }
        Outcome::many(replies)
    }

    /// UNSUBSCRIBE / PUNSUBSCRIBE [name...]: all of them without names.
    pub(super) fn unsubscribe(&mut self, conn: u64, argv: &[Bytes], pattern: bool) -> Outcome {
        let kind = if pattern { "punsubscribe" } else { "unsubscribe" };
        let names: Vec<Bytes> = if argv.len() > 1 {
            argv[1..].to_vec()
        } else {
            self.sessions.get(&conn).map_or_else(Vec::new, |s| {
                let set = if pattern { &s.patterns } else { &s.channels };
                set.iter().cloned().collect()
            })
        };
        if names.is_empty() {
            let total = self.subscription_count(conn);
            return Outcome::reply(Reply::Push(vec![word(kind), Reply::Null, count(total)]));
        }
        let mut replies = Vec::with_capacity(names.len());
        for name in names {
            self.remove_subscription(conn, &name, pattern);
            let total = self.subscription_count(conn);
            replies.push(Reply::Push(vec![word(kind), bulk(&name), count(total)]));
        }
        Outcome::many(replies)
    }

    fn remove_subscription(&mut self, conn: u64, name: &Bytes, pattern: bool) {
        let Some(session) = self.sessions.get_mut(&conn) else {
            return;
        };
        let set = if pattern {
            &mut session.patterns
        } else {
            &mut session.channels
        };
        if !set.remove(name) {
            return;
        }
        let registry = if pattern {
            &mut self.pubsub.patterns
        } else {
            &mut self.pubsub.channels
        };
        if let Some(conns) = registry.get_mut(name) {
            conns.retain(|c| *c != conn);
            if conns.is_empty() {
                registry.remove(name);
            }
        }
    }

    /// Drops every subscription of `conn` (disconnect, RESET).
    pub(super) fn unsubscribe_all(&mut self, conn: u64) {
        let (channels, patterns) = match self.sessions.get(&conn) {
            Some(s) => (
                s.channels.iter().cloned().collect::<Vec<_>>(),
                s.patterns.iter().cloned().collect::<Vec<_>>(),
            ),
            None => return,
        };
        for name in channels {
            self.remove_subscription(conn, &name, false);
        }
        for name in patterns {
            self.remove_subscription(conn, &name, true);
        }
    }

    /// PUBLISH channel message: the number of clients that received it.
    pub(super) fn publish(&mut self, conn: u64, channel: &Bytes, message: &Bytes) -> Reply {
        let barrier = self.sessions.get(&conn).map_or(0, |s| s.last_barrier);
        let mut deliveries: Vec<(u64, Reply)> = Vec::new();
        if let Some(conns) = self.pubsub.channels.get(channel) {
            for &to in conns {
                deliveries.push((to, Reply::Push(vec![word("message"), bulk(channel), bulk(message)])));
            }
        }
        for (pattern, conns) in &self.pubsub.patterns {
            if glob::matches(pattern, channel) {
                for &to in conns {
                    deliveries.push((
                        to,
                        Reply::Push(vec![word("pmessage"), bulk(pattern), bulk(channel), bulk(message)]),
                    ));
                }
            }
        }
        let receivers = deliveries.len();
        for (to, reply) in deliveries {
            self.deliver(to, reply, barrier, channel.len() + message.len() + 64);
        }
        count(receivers)
    }

    /// Queues a message for subscriber `to`; disconnects it when its
    /// unwritten output passes its limit.
    fn deliver(&mut self, to: u64, reply: Reply, barrier: u64, size: usize) {
        if !self.charge_output(to, size) {
            return;
        }
        let Some(session) = self.sessions.get(&to) else { return };
        let item = PendingReply {
            reply,
            barrier,
            protocol: session.protocol,
            silent: false,
            drop_on_failure: true,
            accounted: size,
        };
        session.send(Outgoing::replies(vec![item], 0));
    }

    /// PUBSUB CHANNELS [pattern] / NUMSUB [channel...] / NUMPAT /
    /// SHARDCHANNELS / SHARDNUMSUB (no shard channels here: empty).
    pub(super) fn pubsub_command(&self, argv: &[Bytes]) -> Reply {
        let sub = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
        match (sub.as_str(), argv.len()) {
            ("channels", 2 | 3) => {
                let mut names: Vec<&Bytes> = self
                    .pubsub
                    .channels
                    .keys()
                    .filter(|name| argv.get(2).is_none_or(|p| glob::matches(p, name)))
                    .collect();
                names.sort();
                Reply::Array(names.into_iter().map(bulk).collect())
            }
            // A flat array in RESP3 too, as Redis 7.0 answers.
            ("numsub", _) => Reply::Array(
                argv[2..]
                    .iter()
                    .flat_map(|name| [bulk(name), count(self.pubsub.channels.get(name).map_or(0, Vec::len))])
                    .collect(),
            ),
            ("numpat", 2) => count(self.pubsub.patterns.len()),
            ("shardchannels", 2 | 3) => Reply::Array(Vec::new()),
            ("shardnumsub", _) => Reply::Array(argv[2..].iter().flat_map(|name| [bulk(name), count(0)]).collect()),
            ("help", 2) => Reply::Array(
                [
                    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                    "CHANNELS [<pattern>]",
                    "    Return the currently active channels matching a <pattern> (default: '*').",
                    "NUMPAT",
                    "    Return number of subscriptions to patterns.",
                    "NUMSUB [<channel> ...]",
                    "    Return the number of subscribers for the specified channels, excluding",
                    "    pattern subscriptions(default: no channels).",
                    "SHARDCHANNELS [<pattern>]",
                    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
                    "SHARDNUMSUB [<shardchannel> ...]",
                    "    Return the number of subscribers for the specified shard level channel(s)",
                    "HELP",
                    "    Prints this help.",
                ]
                .iter()
                .map(|line| Reply::SimpleString((*line).into()))
                .collect(),
            ),
            ("numpat" | "help", _) => Reply::Error(format!("ERR wrong number of arguments for 'pubsub|{sub}' command")),
            ("channels" | "shardchannels", _) => Reply::Error(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
                String::from_utf8_lossy(&argv[1])
            )),
            _ => Reply::Error(format!(
                "ERR unknown subcommand '{}'. Try PUBSUB HELP.",
                String::from_utf8_lossy(&argv[1])
            )),
        }
    }

    pub(super) fn pubsub_channel_count(&self) -> usize {
        self.pubsub.channels.len()
    }

    pub(super) fn pubsub_pattern_count(&self) -> usize {
        self.pubsub.patterns.len()
    }

    /// RESP2 clients with subscriptions may only run these.
    pub(super) fn in_resp2_pubsub_mode(&self, conn: u64) -> bool {
        self.sessions
            .get(&conn)
            .is_some_and(|s| s.protocol == Protocol::Resp2 && (!s.channels.is_empty() || !s.patterns.is_empty()))
    }
}
