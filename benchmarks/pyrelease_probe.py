"""``pyrelease`` as its console script runs it, plus a record of what it byte-compiles.

Run with pyrelease's interpreter: ``.venv/bin/python benchmarks/pyrelease_probe.py build``.
When ``BENCH_PROBE_LOG`` names a file, every job given to a compile worker (a
subprocess whose command line names ``*compile_worker*``) appends one JSON line
to it: the ``lib/DIST-VSN`` directories named in the worker's input and how
many times each is named. That is how the benchmark tells which distributions
a rebuild recompiled, whatever the release tree looks like afterwards. When the
worker protocol changes and nothing is recorded, the benchmark falls back to
comparing the release's files.
"""

from __future__ import annotations

import collections
import json
import os
import re
import subprocess
import sys

LIB_DIR = re.compile(r"(?:^|[\"/\\])lib/([A-Za-z0-9_.+-]+-[0-9][A-Za-z0-9_.+!-]*)/")


def _record(argv: object, payload: object) -> None:
    log = os.environ.get("BENCH_PROBE_LOG")
    words = argv if isinstance(argv, (list, tuple)) else [argv]
    if not log or not any("compile_worker" in str(w) for w in words):
        return
    if isinstance(payload, bytes):
        payload = payload.decode(errors="replace")
    counts = collections.Counter(LIB_DIR.findall(payload if isinstance(payload, str) else ""))
    with open(log, "a", encoding="utf-8") as f:
        f.write(json.dumps({"lib_dirs": dict(sorted(counts.items()))}) + "\n")


def install() -> None:
    """Record every job sent to a compile worker: it gets its input through
    ``Popen.communicate`` (``subprocess.run(input=...)`` too), whether the worker
    was started for the job or ahead of it (the early worker of a rebuild)."""
    original = subprocess.Popen.communicate

    def communicate(self, input=None, timeout=None):
        if input:
            _record(self.args, input)
        return original(self, input, timeout)

    subprocess.Popen.communicate = communicate


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    install()
    from pyrelease.cli import main

    sys.argv[0] = "pyrelease"
    main()
