"""Running the real ``nix`` (Debian's nix-bin) offline, with the stub nixpkgs and a
throwaway store under the test's temporary directory (``/nix/store`` is left alone)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from helpers import REPO

STUB = REPO / "tests" / "nix" / "stub-nixpkgs"
NIX_CONFIG = "\n".join(
    [
        "experimental-features = nix-command flakes",
        "substituters =",
        "flake-registry = /dev/null",
        "sandbox = true",
        # The stub builds with the host's tools: they must be visible in the sandbox.
        "extra-sandbox-paths = /bin /usr /lib /lib64 /etc/alternatives",
    ]
)


def have_nix() -> bool:
    return shutil.which("nix") is not None


STUB_NEEDS = "setuptools, wheel, click, jinja2, packaging, installer, pip"


def stub_usable() -> bool:
    """The stub builds with Debian's python3.11 and its packages (and its headers, for
    the example's C extension), and patchelf."""
    if not Path("/usr/bin/python3.11").exists() or not shutil.which("patchelf"):
        return False
    if not Path("/usr/include/python3.11/Python.h").exists():
        return False
    probe = subprocess.run(
        ["/usr/bin/python3.11", "-c", f"import {STUB_NEEDS}"], capture_output=True
    )
    return probe.returncode == 0


SKIP_REASON = (
    "needs nix and the stub's host tools: /usr/bin/python3.11 with Debian's python3-"
    f"{{{STUB_NEEDS}}} and python3.11-dev, gcc and patchelf (.ci/run installs them)"
)


def nix(*args: str, cwd: Path | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run ``nix`` with flakes on, no substituters, no registry, the sandbox on."""
    env = {**os.environ, "NIX_CONFIG": NIX_CONFIG}
    return subprocess.run(
        ["nix", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def stub_args(store: Path, *inputs: str) -> list[str]:
    """Offline, a throwaway store, each flake input in ``inputs`` replaced by the stub."""
    args = ["--offline", "--store", str(store)]
    for name in inputs or ("nixpkgs",):
        args += ["--override-input", name, f"path:{STUB}"]
    return args


def build(flake: Path, attr: str, store: Path, *extra: str, inputs: tuple[str, ...] = ()) -> Path:
    """``nix build FLAKE#ATTR`` into ``store``; the output's real location on disk."""
    result = nix("build", f"{flake_ref(flake)}#{attr}", "--no-link", "--json",
                 *stub_args(store, *inputs), *extra)  # fmt: skip
    assert result.returncode == 0, result.stderr[-5000:]
    out = json.loads(result.stdout)[0]["outputs"]["out"]
    return in_store(store, out)


def in_store(store: Path, path: str) -> Path:
    """Where a ``/nix/store/...`` path of a throwaway store lives on disk."""
    return store / path.lstrip("/")


def flake_ref(path: Path) -> str:
    return f"path:{path}"


def copy_tracked(dest: Path) -> Path:
    """A clone of the repository's tracked files (what a flake of a git checkout sees)."""
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    for name in filter(None, files):
        src = REPO / name
        if not src.exists() and not src.is_symlink():
            continue  # deleted in the working tree
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target, follow_symlinks=False)
    return dest
