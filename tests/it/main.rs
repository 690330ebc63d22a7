//! understudy's integration tests: one binary, a module per area. Each test starts (or shares) a
//! real server on an ephemeral loopback port and talks HTTP to it.

mod cli;
mod cluster;
mod contract;
mod deploy;
mod features;
mod fuzz;
mod hardening;
mod openapi;
mod operations;
mod pagination;
mod real_documents;
mod robustness;
mod scenarios;
mod serve;
mod support;
mod vendor_writes;
mod verify;
mod writes;
