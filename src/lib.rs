//! understudy: a stand-in for real HTTP APIs, driven by OpenAPI specs with `x-understudy`
//! extensions (see `docs/spec-extensions.md`).
//!
//! The crate is split by domain:
//! - [`spec`]: loading spec files and compiling their schemas and extensions;
//! - [`data`]: the seeded dataset, generated per field from (seed, API, collection, index);
//! - [`query`]: query-parameter parsing, filters, ordering and pagination;
//! - [`api_error`]: rendering errors in each API's own envelope;
//! - [`auth`]: credentials and the tokens file;
//! - [`engine`]: turning our [`engine::Request`] into our [`engine::Response`];
//! - [`http`]: the hyper server (the only module that sees hyper); [`reload`]: `--watch`;
//! - [`contract`]: JSON Schema validation of responses against the spec;
//! - [`scenario`]: scenario files, sessions and their clocks;
//! - [`verify`]: checking a live server against a spec;
//! - [`lint`]: checking specs and scenarios without serving;
//! - [`cli`]: command-line definitions; [`settings`]: the same from the environment and a file.

pub mod api_error;
pub mod auth;
pub mod cli;
pub mod contract;
pub mod data;
pub mod engine;
pub mod error;
pub mod files;
pub mod http;
pub mod lint;
pub mod locate;
pub mod query;
pub mod reload;
pub mod scenario;
pub mod settings;
pub mod spec;
pub mod state;
pub mod sync;
pub mod verify;

pub use error::{Error, Result};
