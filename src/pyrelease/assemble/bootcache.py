"""The boot cache of a release: its boot files parsed and ``runtime.py`` compiled.

```text
releases/VSN/
  boot.cache                          marshal (format 2): JSON file bytes -> marshal of the value
  __pycache__/runtime.cpython-311.pyc runtime.py, compiled by the release's interpreter
```

The node (``pyrelease.node.bootcache``) takes a file from here only when the
file still has the bytes the entry was made from, so editing ``sys.config`` or
``runtime.py`` in a release keeps working. Both outputs depend on nothing but
the files and the interpreter: the JSON values are written with ``marshal``
format 2 (no references, no interned-string marks, which would depend on the
history of the build process), and the ``.pyc`` comes from the compile worker.
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


def compile_runtime_config(
    vsn_dir: Path, python: Path, cache_tag: str, cache_dir: Path | None = None
) -> None:
    """Compile ``vsn_dir/runtime.py``, if there is one, beside it (``__pycache__``).

    With ``cache_dir`` the ``.pyc`` is kept there, keyed by the source, the
    name it records and the compiler, and copied on later builds.
    """
    source = vsn_dir / "runtime.py"
    if not source.is_file():
        return
    out = vsn_dir / "__pycache__" / f"runtime.{cache_tag}.pyc"
    dfile = f"releases/{vsn_dir.name}/runtime.py"
    cached = None
    if cache_dir is not None:
        h = hashlib.sha256(f"{cache_tag}\0{dfile}\0".encode())
        for data in (WORKER.read_bytes(), source.read_bytes()):
            h.update(hashlib.sha256(data).digest())
        cached = cache_dir / f"{h.hexdigest()[:24]}.pyc"
        if cached.is_file():
            out.parent.mkdir(exist_ok=True)
            shutil.copyfile(cached, out)
            return
    compile_files(python, [(source, out, dfile)], strip_docstrings=False)
    if cached is not None and out.is_file():
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
