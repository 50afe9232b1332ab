"""pyrelease: self-contained, reproducible releases for Python services."""

__version__ = "0.1.0"
