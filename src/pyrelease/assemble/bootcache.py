"""The boot cache of a release: its boot files parsed, ``runtime.py`` and the
console scripts compiled.

```text
releases/VSN/
  boot.cache                          marshal (format 2): JSON file bytes -> marshal of the value
  __pycache__/runtime.cpython-311.pyc runtime.py, compiled by the release's interpreter
  bin/__pycache__/SCRIPT.cpython-311.pyc
                                      each console script of bin/, compiled the same way
```

The node (``pyrelease.node.bootcache``) takes a file from here only when the
file still has the bytes the entry was made from, so editing ``sys.config``,
``runtime.py`` or a script in a release keeps working. The outputs depend on
nothing but the files and the interpreter: the JSON values are written with
``marshal`` format 2 (no references, no interned-string marks, which would
depend on the history of the build process), and the ``.pyc`` files come from
the compile worker, one call for all of them, none when the build cache has
them all.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import os
import shutil
import tempfile
from pathlib import Path

from pyrelease.assemble.libs import WORKER, compile_files
from pyrelease.node.bootcache import pyc_name

FILE = "boot.cache"
MARSHAL_VERSION = 2  # the node's bootcache.MARSHAL_VERSION
#: The boot files a node parses (``start.json`` only when it starts applications,
#: ``start.command`` when it starts its command before it boots).
JSON_FILES = ("start.json", "start_clean.json", "boot.json", "sys.config", "start.command")


def write_boot_cache(vsn_dir: Path, names: tuple[str, ...] = JSON_FILES) -> None:
    """Write ``vsn_dir/boot.cache`` for the JSON files ``names`` written there."""
    entries: dict[bytes, bytes] = {}
    for name in names:
        path = vsn_dir / name
        if path.is_file():
            data = path.read_bytes()
            # The value the node's reader gets from these very bytes.
            entries[data] = marshal.dumps(json.loads(data), MARSHAL_VERSION)
    (vsn_dir / FILE).write_bytes(marshal.dumps(entries, MARSHAL_VERSION))


def boot_code(vsn_dir: Path, cache_tag: str) -> list[tuple[Path, Path]]:
    """What the node runs as Python files of ``vsn_dir``: ``(source, pyc)`` for
    ``runtime.py`` and each console script in ``bin/`` (not the ``python``
    launcher, a shell script).

    A script whose ``.pyc`` name another one has too (``foo.py`` and ``foo``)
    gets none: both are compiled when they run.
    """
    sources = [vsn_dir / "runtime.py"]
    bin_dir = vsn_dir / "bin"
    if bin_dir.is_dir():
        sources += sorted(p for p in bin_dir.iterdir() if p.name != "python")
    by_pyc: dict[Path, list[Path]] = {}
    for source in sources:
        if source.is_file():
            pyc = source.parent / "__pycache__" / pyc_name(source.name, cache_tag)
            by_pyc.setdefault(pyc, []).append(source)
    return [(found[0], pyc) for pyc, found in by_pyc.items() if len(found) == 1]


def compile_boot_code(
    vsn_dir: Path, python: Path, cache_tag: str, cache_dir: Path | None = None
) -> None:
    """Compile ``vsn_dir/runtime.py`` and the console scripts of ``vsn_dir/bin/``
    beside them (``__pycache__``), with one compile worker for all of them.

    With ``cache_dir`` each ``.pyc`` is kept there, keyed by the source, the
    name it records and the compiler, and copied on later builds: an unchanged
    rebuild starts no worker. A source that does not compile gets no ``.pyc``
    (the node reports its error when it runs it).
    """
    worker = hashlib.sha256(WORKER.read_bytes()).digest() if cache_dir is not None else b""
    jobs: list[tuple[Path, Path, str]] = []
    keep: list[tuple[Path, Path]] = []
    for source, out in boot_code(vsn_dir, cache_tag):
        dfile = f"releases/{vsn_dir.name}/{source.relative_to(vsn_dir).as_posix()}"
        if cache_dir is not None:
            h = hashlib.sha256(f"{cache_tag}\0{dfile}\0".encode())
            h.update(worker)
            h.update(hashlib.sha256(source.read_bytes()).digest())
            cached = cache_dir / f"{h.hexdigest()[:24]}.pyc"
            if cached.is_file():
                out.parent.mkdir(exist_ok=True)
                shutil.copyfile(cached, out)
                continue
            keep.append((out, cached))
        jobs.append((source, out, dfile))
    compile_files(python, jobs, strip_docstrings=False)
    for out, cached in keep:
        if out.is_file():
            _keep(out, cached)


def _keep(pyc: Path, cached: Path) -> None:
    """Copy ``pyc`` into the cache under its final name in one step (a rename)."""
    tmp = None
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".filling-", dir=cached.parent)
        os.close(fd)
        shutil.copyfile(pyc, tmp)
        os.replace(tmp, cached)
    except OSError:  # a full or read-only cache: the release is complete anyway
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
