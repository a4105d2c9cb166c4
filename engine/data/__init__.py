"""Data: the conformer corpus (``corpus``), graph batching (``batching``) and synthetic
lattice systems (``lattice``). See docs/data.md."""
