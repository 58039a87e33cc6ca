"""Random faults, basic vs Sentinel-confirmed mode: `python3 -m chaos.run ROUNDS` from the repository root."""
