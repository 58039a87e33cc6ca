"""Repository scripts; the Python ones run as modules from the repository root (`python3 -m scripts.compat`)."""
