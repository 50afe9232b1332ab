"""Hashing in C: ``fnv1a(data) -> int`` (64-bit FNV-1a)."""

from demo_speedups._fnv import fnv1a

__all__ = ["fnv1a"]
