"""gdapp: the desktop app for graph-structured diffusion of 3D structures.

Layers: ``views`` (widgets) → ``state`` (signals) / ``workers`` (threads) → ``engine.api``.
"""
__version__ = "0.1.0"
