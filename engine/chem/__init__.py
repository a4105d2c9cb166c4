"""Chemistry helpers: atom features, molecular graphs, stereo checks (RDKit-based)."""
