"""Live demos: `python3 -m demo.demo` and `python3 -m demo.routed` from the repository root.

demo.py is the layer-2 failover as named steps; show.py how it prints, timeline.py what it
records for its timeline."""
