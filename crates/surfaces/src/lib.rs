//! Surfaces map a transport onto `Registry::execute` and the envelope back onto the transport.
//! No business logic lives here.

pub mod mcp;
pub mod openapi;
pub mod rest;
pub mod web;

pub use rest::{router, serve};
