"""The model: the example service as an Elixir release, built with ``mix release``.

The project is ``benchmarks/model/`` (OTP's ``:inets`` httpd serving ``/`` and
``/health``, ``config/runtime.exs`` reading ``PORT``, ``include_erts: true``, no
Hex dependencies, so it builds offline). It is measured by the same code as
every other tool: cold, warm and edited builds, start → first 200, requests,
``bin/demo pid | rpc | eval | version``, ``bin/demo stop`` → gone, idle RSS; and
the tarball of its ``:tar`` step.

``mix`` comes from Debian's ``elixir`` (1.14) and ``erlang`` (OTP 25). A full
run installs them with ``apt-get`` when they are missing and it runs as root;
otherwise the model is skipped and the run's notes say why. Every build runs
with ``MIX_ENV=prod`` and ``HOME``/``MIX_HOME``/``HEX_HOME`` inside the
build's cache directory (empty for a cold build), with Hex offline. The node
and its commands reach epmd on a private port (``ERL_EPMD_PORT``), served by an
``epmd`` the benchmark starts and stops itself.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from measure import Node, clean_env, free_port, run_timed
from tools import BENCH, Setup, Tool

PROJECT = BENCH / "model"
EDITED_FILE = Path("lib/demo/stats.ex")
EDIT_LINE = re.compile(r"^  @edit \d+$", re.MULTILINE)
#: ``elixir`` pulls in the rest of the OTP applications a release needs.
DEBIAN_PACKAGES = ["elixir", "erlang-base", "erlang-inets"]
TAR_NAME = "demo-0.1.0.tar.gz"


def find_mix(explicit: Path | None, install: bool, say) -> tuple[str | None, str]:
    """The ``mix`` to use, or None and one sentence saying why the model is skipped.

    ``install``: when ``mix`` is missing, install Debian's elixir and erlang (root only).
    """
    if explicit is not None:
        if explicit.is_file() and os.access(explicit, os.X_OK):
            return str(explicit), ""
        return None, f"the model was skipped: {explicit} (--mix) is not an executable file"
    found = shutil.which("mix")
    if found:
        return found, ""
    if not install:
        return None, (
            "the model (`mix release`) was skipped: `mix` is not installed; install Debian's "
            f"{' '.join(DEBIAN_PACKAGES)}, or run without --quick as root to have it installed"
        )
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return None, (
            "the model (`mix release`) was skipped: `mix` is not installed and this run cannot "
            f"install it (needs root and apt-get): `apt-get install {' '.join(DEBIAN_PACKAGES)}`"
        )
    say(f"installing {', '.join(DEBIAN_PACKAGES)} with apt-get (for the model)")
    env = clean_env({"DEBIAN_FRONTEND": "noninteractive"})
    argv = ["apt-get", "install", "-y", "--no-install-recommends", *DEBIAN_PACKAGES]
    out = run_timed(argv, env=env, timeout=1200)
    if out.returncode != 0:  # an image without package lists: fetch them once, then retry
        run_timed(["apt-get", "update"], env=env, timeout=600)
        out = run_timed(argv, env=env, timeout=1200)
    if out.returncode != 0:
        tail = " ".join((out.stdout + out.stderr).strip().splitlines()[-2:])
        return None, f"the model (`mix release`) was skipped: installing it failed: {tail}"
    found = shutil.which("mix")
    if not found:
        return None, (
            f"the model (`mix release`) was skipped: {', '.join(DEBIAN_PACKAGES)} are "
            "installed but `mix` is not on PATH"
        )
    return found, ""


def versions(mix: str) -> dict[str, str]:
    """Elixir's and Erlang/OTP's versions, as ``elixir --version`` prints them."""
    elixir = str(Path(mix).with_name("elixir"))
    out = run_timed([elixir, "--version"], env=clean_env({"LC_ALL": "C.UTF-8"}), timeout=120)
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    found = {}
    for line in lines:
        if line.startswith("Erlang/OTP"):
            found["erlang"] = " ".join(line.split()[:2])
        elif line.startswith("Elixir"):
            found["elixir"] = " ".join(line.split()[:2])
    return found


def start_epmd(work: Path) -> tuple[Node, int]:
    """A private epmd in its own process group (the caller closes it), and its port."""
    port = free_port()
    epmd = shutil.which("epmd") or "epmd"
    node = Node([epmd, "-port", str(port)], clean_env(), work / "epmd.log")
    node.start()
    return node, port


class Model(Tool):
    """``mix release`` of benchmarks/model, started with ``bin/demo start``."""

    key = "model"
    label = "model (mix release)"
    has_commands = True
    inside = "ERTS"

    def __init__(self, setup: Setup, mix: str, epmd_port: int) -> None:
        super().__init__(setup)
        self.mix, self.epmd_port = mix, epmd_port

    def env(self, cache: Path) -> dict[str, str]:
        env = super().env(cache)
        home = cache / "home"
        home.mkdir(parents=True, exist_ok=True)
        env.update(
            HOME=str(home),
            MIX_HOME=str(cache / "mix"),
            HEX_HOME=str(cache / "hex"),
            HEX_OFFLINE="1",
            MIX_ENV="prod",
            LC_ALL="C.UTF-8",
        )
        return env

    def copy_project(self, dest: Path) -> Path:
        shutil.copytree(PROJECT, dest, ignore=shutil.ignore_patterns("_build", "deps"))
        return dest

    def edit(self, project: Path, n: int) -> None:
        """Change one module (its bytecode changes too): ``@edit N`` in lib/demo/stats.ex."""
        path = project / EDITED_FILE
        text, count = EDIT_LINE.subn(f"  @edit {n + 1}", path.read_text())
        if count != 1:
            raise RuntimeError(f"{path} has no `  @edit N` line to change")
        path.write_text(text)

    def commands(self, project: Path, kind: str) -> list[list[str]]:
        return [[self.mix, "release", "--overwrite"]]

    def artifact(self, project: Path) -> Path:
        return project / "_build" / "prod" / "rel" / "demo"

    def start_argv(self, project: Path) -> list[str]:
        return [str(self.artifact(project) / "bin" / "demo"), "start"]

    def runtime_env(self, root: Path) -> dict[str, str]:
        # The node and the commands that reach it (rpc, pid, stop) need the same epmd and name.
        return {
            "ERL_EPMD_PORT": str(self.epmd_port),
            "RELEASE_NODE": f"benchmodel{os.getpid()}",
            "LC_ALL": "C.UTF-8",
        }

    def tarball(self, project: Path, cache: Path) -> dict:
        """The ``:tar`` step: ``mix release --overwrite`` with it, its time and the size."""
        env = {**self.env(cache), "MODEL_TAR": "1"}
        out = run_timed([self.mix, "release", "--overwrite"], env=env, cwd=project, timeout=900)
        out.check("mix release with the tar step")
        tar = project / "_build" / "prod" / TAR_NAME
        size = tar.stat().st_size
        tar.unlink()
        return {"tar_step_gz_bytes": size, "tar_step_build_ms": round(out.ms, 1)}


def stop(node: Node | None) -> None:
    if node is not None:
        node.close()
