//! Protected mode (`protected-mode yes`, the default): while the default
//! user has no password, only loopback peers may connect; others get
//! Redis's `-DENIED` explanation and are closed. The node binds 127.0.0.1
//! by default, so this matters once it is bound to a reachable address.

use std::net::IpAddr;

/// Redis 7.0.15's reply to a refused peer, sent before closing.
pub const DENIED: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Whether a connection from `peer` must be refused.
pub fn refuses(protected_mode: bool, default_user_nopass: bool, peer: IpAddr) -> bool {
    protected_mode && default_user_nopass && !is_loopback(peer)
}

fn is_loopback(peer: IpAddr) -> bool {
    match peer {
        IpAddr::V4(v4) => v4.is_loopback(),
        // An IPv4 client of a dual-stack socket shows as ::ffff:127.0.0.1.
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn only_remote_peers_of_an_open_node_are_refused() {
        assert!(refuses(true, true, ip("10.0.0.5")));
        assert!(refuses(true, true, ip("2001:db8::1")));
        assert!(!refuses(true, true, ip("127.0.0.1")));
        assert!(!refuses(true, true, ip("127.1.2.3")));
        assert!(!refuses(true, true, ip("::1")));
        assert!(!refuses(true, true, ip("::ffff:127.0.0.1")));
        // A password, or protected mode off, lets everyone in.
        assert!(!refuses(true, false, ip("10.0.0.5")));
        assert!(!refuses(false, true, ip("10.0.0.5")));
    }

    #[test]
    fn denied_is_one_resp_error_line() {
        assert!(DENIED.starts_with("-DENIED "));
        assert!(DENIED.ends_with("\r\n"));
        assert_eq!(DENIED.matches("\r\n").count(), 1);
    }
}
