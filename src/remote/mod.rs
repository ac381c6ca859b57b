//! Reaching other hosts: the system OpenSSH client (multiplexed, batch mode, timeouts,
//! verified host keys), self-copy of this binary, and node mode requests.
pub mod redact;
pub mod request;
pub mod ssh;

pub use request::NodeRequest;
pub use ssh::{Ssh, SshError};
