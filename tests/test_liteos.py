"""The light ``os`` of the management commands gives what ``os`` gives.

Each check runs in a fresh interpreter with the light ``os`` turned on, as
``bin/NAME`` runs a management command, and compares it there with the real
``os`` imported afterwards: the environment (undecodable bytes included), the
path functions on awkward paths, and what it hands to the real ``os``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = str(Path(__file__).parents[1] / "src")
PATHS = ["", "/", "//", "///a", "a", "a/", "a//b", "/a/b/", "/a/b//", "./a/../b", "a/b/c.d",
         "/tmp/x\udcff/y", "é/ü"]  # fmt: skip
PYTHONS = [sys.executable, *sorted(
    str(p) for p in Path("/root/.pyenv/versions").glob("3.1[123].*/bin/python3.1[123]")
)]  # fmt: skip

CHECK = """
import sys, json
sys.path.insert(0, sys.argv[1])
from pyrelease.node import liteos
liteos.enable()
from pyrelease.node.liteos import os as light
light_only = 'os' not in sys.modules
paths, files = json.loads(sys.argv[2]), json.loads(sys.argv[3])
def results(os):
    return {
        'environ': dict(os.environ),
        'join': [os.path.join(a, b) for a in paths for b in paths]
                + [os.path.join('a', 'b', '/c', 'd'), os.path.join('a')],
        'dirname': [os.path.dirname(p) for p in paths],
        'basename': [os.path.basename(p) for p in paths],
        'lexists': [os.path.lexists(p) for p in files],
        'pid': os.getpid(), 'cwd': os.getcwd(), 'sep': os.sep,
        'normpath': os.path.normpath('/a/./b/../c'), 'w_ok': os.W_OK,
        'access': os.access(files[0], os.W_OK), 'mode': os.stat(files[0]).st_mode,
    }
got = results(light)
import os
print(json.dumps([light_only, type(light).__name__, got, results(os)]))
"""


@pytest.mark.parametrize("python", PYTHONS)
def test_light_os_gives_what_os_gives(python: str, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    files = [str(tmp_path / n) for n in ("file", "dangling", "none")]
    env = {b"PATH": os.environb.get(b"PATH", b""), b"ODD": b"caf\xc3", b"EMPTY": b"",
           b"LANG": b"C.UTF-8", b"HOME": b"/nonexistent"}  # fmt: skip
    out = subprocess.run(
        [python, "-I", "-S", "-c", CHECK, SRC, json.dumps(PATHS), json.dumps(files)],
        env=env, capture_output=True, check=True,
    )  # fmt: skip
    light_only, kind, light, real = json.loads(out.stdout)
    assert light_only is True and kind == "_Os"
    assert light == real
    assert light["environ"]["ODD"] == "caf\udcc3"
    assert light["lexists"] == [True, True, False]


def test_off_unless_enabled() -> None:
    code = (
        "import sys\n"
        f"sys.path.insert(0, {SRC!r})\n"
        "from pyrelease.node.liteos import os\n"
        "import os as real\n"
        "print(os is real)"
    )
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True)
    assert out.stdout == "True\n", out.stderr
