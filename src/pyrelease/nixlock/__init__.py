"""``pyrelease nix-lock``: the per-target lock that the Nix layer reads.

:mod:`.targets` knows the triples the flake builds and the wheel tags each accepts;
:mod:`.writer` picks, per target, the exact file of every locked distribution and
writes ``pyrelease.lock.json``.
"""

from __future__ import annotations

from pyrelease.nixlock.targets import TARGETS, Target
from pyrelease.nixlock.writer import LOCK_NAME, nix_lock, write_nix_lock

__all__ = ["LOCK_NAME", "TARGETS", "Target", "nix_lock", "write_nix_lock"]
