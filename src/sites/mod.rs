//! The places the gate runs, each a [`crate::pipeline::Site`]: the client's pre-push hook
//! (and `pushguard check`, its dry run) and the server's hooks; `sha256` reads the facts of
//! a repository that libgit2 cannot read, for either of them. A new place is a new file here.

pub mod attested;
pub mod chained;
pub mod client;
pub mod push_cert;
pub mod server;
pub mod sha256;

pub use chained::ChainedHook;
pub use client::Client;
pub use server::Server;
