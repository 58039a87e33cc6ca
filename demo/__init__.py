"""Live demos: `python3 -m demo.demo` and `python3 -m demo.routed` from the repository root."""
