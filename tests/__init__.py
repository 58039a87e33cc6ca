"""The tests beyond Rust's own: the shared namespace harness (harness/), the integration tests
(integration/, run by pytest) and the packaged system test (system/)."""
