"""Local packages without a PEP 517 build, where that gives the same files.

A local package (the project, a directory the lock names) is installed from a
wheel its build backend made (see :mod:`pyrelease.buildenv`). Building one
takes seconds: an isolated environment, the backend, a zip. After an edit that
changes module files only, the backend would write the same wheel with those
files' new contents, so pyrelease writes that wheel itself from the previous
one, and updates the installed copy in the build environment in place.

That is done only when the previous build shows it is safe:

* the package is built by setuptools (``setuptools.build_meta``), hatchling or
  flit-core from a ``pyproject.toml`` whose ``[project]`` has no ``dynamic``
  fields (a version read from a module would change with it), with no
  ``setup.py``, no setuptools ``cmdclass`` and no hatch build hooks (they may
  generate or rewrite files);
* the same files exist as at the previous build (none added or removed), and
  every file that changed is one the previous wheel holds byte for byte (a
  module or data file of the package). A change anywhere else
  (``pyproject.toml``, ``README.md``, ``setup.cfg``, a test folder) means a
  full build.

Next to each cached wheel, ``sources.json`` records what it was built from::

    {"files": {"src/demo/app.py": SHA256, ...},      every source file
     "members": {"demo/app.py": "src/demo/app.py"},   wheel member <- its source
     "wheel": "demo-0.1.0-py3-none-any.whl"}
"""

from __future__ import annotations

import base64
import copy
import csv
import hashlib
import io
import json
import os
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

MANIFEST = "sources.json"
#: Build backends that copy a package's files into the wheel unchanged.
BACKENDS = {"setuptools.build_meta", "hatchling.build", "flit_core.buildapi"}


@dataclass
class Derived:
    """A wheel written without a build: where it is, and what changed in it."""

    wheel: Path
    changed: dict[str, bytes]  # wheel member -> its new content
    dist_info: str


def static_layout(package: Path) -> bool:
    """Whether ``package``'s wheel depends on its files only as copies (see the module doc)."""
    if (package / "setup.py").exists():
        return False
    try:
        data = tomllib.loads((package / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    backend = data.get("build-system", {}).get("build-backend")
    project = data.get("project")
    if backend not in BACKENDS or not isinstance(project, dict) or project.get("dynamic"):
        return False
    tool = data.get("tool", {})
    if "cmdclass" in tool.get("setuptools", {}):  # custom commands may rewrite files
        return False
    return "hooks" not in json.dumps(tool.get("hatch", {}).get("build", {}))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def record_sources(slot: Path, wheel: Path, files: dict[str, str]) -> None:
    """Write ``slot/sources.json`` for a wheel built from sources with hashes ``files``."""
    by_hash: dict[str, list[str]] = {}
    for rel, digest in files.items():
        by_hash.setdefault(digest, []).append(rel.replace(os.sep, "/"))
    members: dict[str, str] = {}
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            name = info.filename
            top = name.split("/")[0]
            if info.is_dir() or top.endswith((".dist-info", ".data")):
                continue
            found = [
                r for r in by_hash.get(_sha256(zf.read(info)), ())
                if r == name or r.endswith("/" + name)
            ]  # fmt: skip
            if len(found) == 1:
                members[name] = found[0]
    data = {"files": files, "members": members, "wheel": wheel.name}
    (slot / MANIFEST).write_text(json.dumps(data, sort_keys=True), encoding="utf-8")


def _read_manifest(slot: Path) -> dict | None:
    try:
        data = json.loads((slot / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    wheel = slot / str(data.get("wheel", ""))
    if not (isinstance(data.get("files"), dict) and wheel.is_file() and wheel.suffix == ".whl"):
        return None
    return data


def _changes(package: Path, manifest: dict, files: dict[str, str]) -> dict[str, bytes] | None:
    """The wheel members that differ between the wheel ``manifest`` describes and the
    sources ``files`` (their new contents), or None when only a build can tell."""
    if not static_layout(package):
        return None
    old: dict[str, str] = manifest["files"]
    if set(old) != set(files):
        return None
    changed_sources = {rel.replace(os.sep, "/") for rel, h in files.items() if old[rel] != h}
    members: dict[str, str] = manifest["members"]
    mapped = set(members.values())
    if not changed_sources <= mapped:
        return None
    changed = {
        member: (package / src).read_bytes()
        for member, src in members.items()
        if src in changed_sources
    }
    if any(_sha256(data) != files[members[m].replace("/", os.sep)] for m, data in changed.items()):
        return None  # edited again while being read: build normally
    return changed


def cached_changes(package: Path, base: Path, files: dict[str, str], wheel: Path) -> Derived | None:
    """``wheel`` (already cached for the sources ``files``) as a :class:`Derived` of the
    one cached in ``base``: what an in-place update from that one must change."""
    manifest = _read_manifest(base)
    if manifest is None or manifest["wheel"] != wheel.name:
        return None
    changed = _changes(package, manifest, files)
    if changed is None:
        return None
    with zipfile.ZipFile(wheel) as zf:
        records = [n for n in zf.namelist() if n.endswith(".dist-info/RECORD")]
        if len(records) != 1 or any(zf.read(m) != data for m, data in changed.items()):
            return None
    return Derived(wheel, changed, records[0].split("/")[0])


def derive(package: Path, base: Path, files: dict[str, str], dest: Path) -> Derived | None:
    """Write into the folder ``dest`` the wheel of ``package`` (sources ``files``) from
    the wheel cached in ``base``, or return None when only a build can make it."""
    manifest = _read_manifest(base)
    if manifest is None:
        return None
    changed = _changes(package, manifest, files)
    if changed is None:
        return None
    members: dict[str, str] = manifest["members"]
    dest.mkdir(parents=True, exist_ok=True)
    wheel = dest / manifest["wheel"]
    dist_info = _rewrite(base / manifest["wheel"], wheel, changed)
    if dist_info is None:
        return None
    new_manifest = {"files": files, "members": members, "wheel": manifest["wheel"]}
    (dest / MANIFEST).write_text(json.dumps(new_manifest, sort_keys=True), encoding="utf-8")
    return Derived(wheel, changed, dist_info)


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode()}"


def _new_record(text: str, changed: dict[str, bytes]) -> str | None:
    """RECORD with the hash and size of the ``changed`` files updated (None if one is missing)."""
    rows = list(csv.reader(io.StringIO(text)))
    seen = set()
    for row in rows:
        if row and row[0] in changed:
            data = changed[row[0]]
            row[1:3] = [_record_hash(data), str(len(data))]
            seen.add(row[0])
    if seen != set(changed):
        return None
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def _rewrite(src: Path, dest: Path, changed: dict[str, bytes]) -> str | None:
    """Copy the wheel ``src`` to ``dest`` with the ``changed`` members; its dist-info name."""
    with zipfile.ZipFile(src) as zin:
        infos = zin.infolist()
        records = [i for i in infos if i.filename.endswith(".dist-info/RECORD")]
        if len(records) != 1:
            return None
        dist_info = records[0].filename.split("/")[0]
        record = _new_record(zin.read(records[0]).decode("utf-8"), changed)
        if record is None:
            return None
        fd, tmp = tempfile.mkstemp(prefix=".deriving-", suffix=".whl", dir=dest.parent)
        os.close(fd)
        try:
            with zipfile.ZipFile(tmp, "w") as zout:
                for info in infos:
                    if info.filename == records[0].filename:
                        data = record.encode("utf-8")
                    else:
                        data = changed.get(info.filename)
                        if data is None:
                            data = zin.read(info)
                    zout.writestr(copy.copy(info), data, compress_type=info.compress_type)
            os.replace(tmp, dest)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return dist_info


def update_installed(site: Path, derived: Derived) -> bool:
    """Put the changed files of ``derived`` into the build environment's ``site`` in place.

    The environment must hold the wheel it was derived from. False (and nothing
    written) when the installed copy does not look like that wheel's.
    """
    record_path = site / derived.dist_info / "RECORD"
    try:
        record = _new_record(record_path.read_text(encoding="utf-8"), derived.changed)
    except OSError:
        return False
    if record is None or not all((site / m).is_file() for m in derived.changed):
        return False
    for member, data in derived.changed.items():
        _replace(site / member, data)
    _replace(record_path, record.encode("utf-8"))
    return True


def _replace(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".updating-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
