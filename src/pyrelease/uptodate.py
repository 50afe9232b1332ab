"""Skip a rebuild when nothing a release is built from has changed.

After a successful build, a stamp in ``_build/ENV/stamps/`` records:

* ``inputs``: a digest of what is known before the build runs: pyrelease's
  version and where it is installed, the release's name, environment and command-line options,
  ``SOURCE_DATE_EPOCH``, the build-time configuration as evaluated, and the
  target interpreter;
* ``watched``: a signature (path, type, size, mtime, inode of every file) of each
  tree the build read: the project (lock file, sources, ``config/``, ``rel/``),
  local packages outside it, overlays, user step modules and pyrelease itself;
* ``output``: the same signature of what the build wrote: the release (without
  ``tmp/`` and ``releases/COOKIE``, which a running release writes) and the tarball.

The next build recomputes all three; when they match, the release on disk is
exactly what the build would write again, and the build stops there. Builds
without a lock file and ``--no-compile`` builds are never skipped (their inputs
are not pinned), nor is ``--force``.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pyrelease
from pyrelease.release import Release
from pyrelease.sources import NOT_SOURCES, VENV_STAMP, find_lock

#: Bump when the stamp's content or meaning changes.
FORMAT = 1
#: Written inside a release by a running node, not by the build.
RUNTIME_WRITTEN = {"tmp", os.path.join("releases", "COOKIE")}


def tree_signature(
    root: Path, *, sources_only: bool = False, skip: frozenset[str] = frozenset()
) -> str:
    """A digest of every entry below ``root``: relative path, mode, size, mtime and inode.

    ``sources_only`` leaves out outputs, caches and environments (``_build``,
    ``.venv``, ``__pycache__``, dot-folders, ...); ``skip`` holds paths to leave
    out. A missing ``root`` has a signature of its own, so it appearing or
    vanishing counts as a change.
    """
    h = hashlib.sha256()
    try:
        st = os.lstat(root)
    except FileNotFoundError:
        return "missing"
    if not os.path.isdir(root):
        return _entry(h, ".", st).hexdigest()
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        kept = []
        for d in sorted(dirnames):
            path = os.path.join(dirpath, d)
            if path in skip or os.path.normpath(os.path.join(rel, d)) in RUNTIME_WRITTEN:
                continue
            if sources_only and (d in NOT_SOURCES or d.startswith(".") or d.endswith(".egg-info")):
                continue
            _entry(h, os.path.join(rel, d), os.lstat(path))
            kept.append(d)
        dirnames[:] = kept
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            relname = os.path.normpath(os.path.join(rel, name))
            if path in skip or relname in RUNTIME_WRITTEN:
                continue
            if sources_only and name.endswith((".pyc", ".pyo")):
                continue
            _entry(h, relname, os.lstat(path))
    return h.hexdigest()


def _entry(h: Any, rel: str, st: os.stat_result) -> Any:
    if stat.S_ISDIR(st.st_mode):  # its entries count, not its mtime (a new COOKIE changes it)
        h.update(f"{rel}\0{st.st_mode}\n".encode())
    else:
        h.update(f"{rel}\0{st.st_mode}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\n".encode())
    return h


def _interpreter(release: Release) -> Path:
    """The target Python's executable, or for ``include_runtime = "PREFIX"`` its ``bin/``."""
    runtime = release.spec.include_runtime
    given = Path(runtime).expanduser() if isinstance(runtime, str) else Path(sys.executable)
    return Path(os.path.realpath(given / "bin" if given.is_dir() else given))


def inputs_digest(release: Release) -> str:
    """What the build depends on beyond files: options, environment, build-time config."""
    options = asdict(release.options)
    for volatile in ("overwrite", "force", "quiet"):  # they do not change what is written
        options.pop(volatile)
    interpreter = _interpreter(release)
    material = {
        "format": FORMAT,
        # The version, and which installation: two of one version may differ.
        "pyrelease": [pyrelease.__version__, os.path.realpath(Path(pyrelease.__file__).parent)],
        "build_python": [sys.version, os.path.realpath(sys.executable)],
        "release": [release.name, release.env, str(release.path)],
        "options": options,
        "source_date_epoch": os.environ.get("SOURCE_DATE_EPOCH", ""),
        "config": release.config,
        "compile_env": release.compile_env,
        "interpreter": [str(interpreter), tree_signature(interpreter)],
    }
    text = json.dumps(material, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def stamp_path(release: Release) -> Path:
    """The stamp of the release that would be written at ``release.path``."""
    key = hashlib.sha256(str(release.path).encode()).hexdigest()[:16]
    return release.build_dir / "stamps" / f"{release.name}-{key}.json"


def trackable(release: Release) -> bool:
    """Whether the inputs of ``release`` are pinned, so that a stamp can vouch for it.

    Not without a lock file (dependencies resolved afresh) nor with ``--no-compile``
    (the build environment is used as it is, whatever was installed into it).
    """
    return release.options.compile and find_lock(release.project.root) is not None


def up_to_date(release: Release, inputs: str) -> dict[str, Any] | None:
    """The stamp of the last build when nothing changed since it; else ``None``."""
    path = stamp_path(release)
    try:
        stamp = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(stamp, dict) or stamp.get("inputs") != inputs:
        return None
    for group in ("watched", "output"):
        entries = stamp.get(group)
        if not isinstance(entries, list) or not entries:
            return None
        for entry in entries:
            if _signature(entry) != entry.get("signature"):
                return None
    return stamp


def _signature(entry: dict[str, Any]) -> str:
    skip = frozenset(entry.get("skip", []))
    return tree_signature(Path(entry["path"]), sources_only=entry["sources_only"], skip=skip)


def _watch(path: Path, *, sources_only: bool, skip: set[Path] | None = None) -> dict[str, Any]:
    entry = {"path": str(path), "sources_only": sources_only, "skip": sorted(map(str, skip or ()))}
    entry["signature"] = _signature(entry)
    return entry


def watch_before(release: Release) -> dict[Path, dict[str, Any]]:
    """Signatures of the trees known before the build runs, taken before it reads them.

    An edit made while the build runs then shows up as a change at the next build.
    """
    root = release.project.root
    members = _members(release)
    trees = [root, Path(pyrelease.__file__).parent, *release.overlays, *members]
    lock = find_lock(root)
    if lock is not None and not _inside(lock, root):
        trees.append(lock)  # a workspace member's lock is at the workspace root
    outputs = _outputs(release)
    # Workspace members have signatures of their own: only those in the release count.
    return {
        tree: _watch(
            tree, sources_only=True, skip=outputs | set(members) if tree == root else outputs
        )
        for tree in trees
    }


def _members(release: Release) -> dict[Path, str]:
    """The other members of the project's uv workspace: directory → distribution name."""
    ws = release.project.workspace
    if ws is None:
        return {}
    here = release.project.root.resolve()
    return {m.path: name for name, m in ws.members.items() if m.path != here}


def record(
    release: Release, inputs: str, before: dict[Path, dict[str, Any]], user_steps: list[str]
) -> None:
    """Write the stamp of a finished build (``release`` as the steps left it)."""
    root = release.project.root
    outputs = _outputs(release)
    members = _members(release)
    contained = {d.name for d in release.distributions}
    trees = [*before, *(Path(p) for p in _local_packages(release))]
    trees = [t for t in trees if t not in members or members[t] in contained]
    for ref in user_steps:
        module = sys.modules.get(ref.partition(":")[0])
        if module is not None and getattr(module, "__file__", None):
            trees.append(Path(module.__file__))  # type: ignore[arg-type]
    watched = []
    for tree in dict.fromkeys(trees):
        if tree != root and tree not in members and _inside(tree, root):
            continue  # covered by the project's own signature
        watched.append(before.get(tree) or _watch(tree, sources_only=True, skip=outputs))
    stamp = {
        "inputs": inputs,
        "release": f"{release.name}-{release.version}",
        "path": str(release.path),
        "watched": watched,
        "output": [_watch(p, sources_only=False) for p in sorted(outputs)],
    }
    path = stamp_path(release)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(stamp, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def _outputs(release: Release) -> set[Path]:
    outputs = {release.path}
    if "tarball" in release.extra:
        outputs.add(Path(release.extra["tarball"]))
    elif "tar" in release.steps:
        outputs.add(release.tarball_path)
    return outputs


def forget(release: Release) -> None:
    """Remove the stamp: the release is about to change (a failed build must not match)."""
    stamp_path(release).unlink(missing_ok=True)


def _local_packages(release: Release) -> list[str]:
    try:
        stamp = json.loads((release.build_dir / "venv" / VENV_STAMP).read_text(encoding="utf-8"))
        return list(stamp.get("sources", {}))
    except (OSError, ValueError):
        return []


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents
