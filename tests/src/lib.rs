//! The harness of the end-to-end tests: the real `candor` binary, real HTTP,
//! real models. Each file under `tests/tests/` holds the tests of one area and
//! drives the binary through these modules. They live in the crate's library,
//! not in a module every test file includes, so that a test binary using only
//! some of them warns about none of the rest.
//!
//! The fixtures (corpora, documents, question sets, configuration, a component's
//! source) live under `tests/fixtures/`, one folder per area. Run the tests
//! through `make test`, which builds the binary and fetches the assets first.

pub mod cli;
pub mod cluster;
pub mod corpus;
pub mod files;
pub mod http;
pub mod llm;
pub mod markdown;
pub mod plugins;
pub mod qdrant;
pub mod server;
