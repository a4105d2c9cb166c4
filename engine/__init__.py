"""gdapp engine: graph-structured diffusion of 3D structures (headless, no Qt)."""
__version__ = "0.1.0"
