//! The engine's error type.

use std::net::SocketAddr;

use memoir_journal::client::ClientError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, #[source] std::io::Error),
    #[error("cannot start the execution thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error("journal: {0}")]
    Journal(#[from] ClientError),
    #[error("the memory node has stopped")]
    Stopped,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
