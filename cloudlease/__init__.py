"""cloudlease: rent out compute by the hour for Bitcoin."""

__version__ = "0.1.0"
