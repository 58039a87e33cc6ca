"""The integration tests: real servers with the module, in network namespaces (see README.md)."""
