//! The integration tests: one binary, real git, real pushes to a bare remote.

mod support;

mod audit;
mod config;
mod config_location;
mod faults;
mod gate;
mod hook;
mod hostile;
mod human;
mod install;
mod load;
mod managers;
mod pipeline;
mod scale;
mod server;
mod sha256;
mod signed_push;
mod signing;
mod team;
mod trail;
mod transports;
mod week1;
