"""A Python built the way Nix builds it (ELF loader and RUNPATH in /nix/store, its own C
library there) comes out of the runtime bundler runnable where no store exists, and the
bundle names no store path.

The "Nix Python" is a stand-in made here: the pyenv CPython copied into a fake
/nix/store (a tmpfs mounted in a private mount namespace, so the real store is left
alone) and patched with patchelf to use a copy of the system's loader and C library
from another store path, exactly as nixpkgs' binaries do. The bundling runs inside
that namespace; the result runs outside it, where those paths do not exist.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pyrelease.assemble.runtime.elf import read_elf

pytestmark = pytest.mark.e2e

PYENV = Path(f"/root/.pyenv/versions/{'.'.join(map(str, sys.version_info[:3]))}")
GLIBC = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-glibc-fake/lib"
PREFIX = "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-python3-fake"
LOADER = "/lib64/ld-linux-x86-64.so.2"
MINOR = f"{sys.version_info[0]}.{sys.version_info[1]}"

MAKE_STORE_AND_BUNDLE = f"""
set -e
mount -t tmpfs tmpfs /nix/store
mkdir -p {GLIBC} {PREFIX}/bin {PREFIX}/lib/python{MINOR}
for lib in {LOADER} $(ldd "$PYTHON" | awk '/=> \\//{{print $3}}'); do cp -L "$lib" {GLIBC}/; done
cp "$PYTHON" {PREFIX}/bin/python{MINOR}
cp -L "$LIBPYTHON" {PREFIX}/lib/
mount --bind "$STDLIB" {PREFIX}/lib/python{MINOR}
# Its build-time configuration names its own prefix, as a Nix-built Python's does.
for f in "$STDLIB"/_sysconfigdata_*.py; do
  sed "s|$PYENV_PREFIX|{PREFIX}|g" "$f" > /nix/store/"${{f##*/}}"
  mount --bind /nix/store/"${{f##*/}}" {PREFIX}/lib/python{MINOR}/"${{f##*/}}"
done
patchelf --set-interpreter {GLIBC}/ld-linux-x86-64.so.2 --set-rpath {PREFIX}/lib:{GLIBC} \\
  {PREFIX}/bin/python{MINOR}
patchelf --set-rpath {GLIBC} {PREFIX}/lib/$(basename "$LIBPYTHON")
exec "$BUILD_PYTHON" -c '
import sys
from pathlib import Path
from pyrelease.assemble.runtime import bundle_runtime, inspect_python
python = inspect_python("{PREFIX}")
assert str(python.prefix) == "{PREFIX}", python
info = bundle_runtime(python, Path(sys.argv[1]), cache_dir=Path(sys.argv[2]))
print(info.dir_name, info.own_loader)
' "$DEST" "$CACHE"
"""


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not Path("/nix/store").is_dir() or not shutil.which("unshare"):
        pytest.skip(
            "needs /nix/store to mount over (nix-bin; `nix-store --init` as root creates it) "
            "and unshare (util-linux)"
        )
    if not (PYENV / "bin" / f"python{MINOR}").exists() or not shutil.which("patchelf"):
        pytest.skip(f"needs the pyenv CPython {PYENV.name} and patchelf")
    base = tmp_path_factory.mktemp("nixpython")
    dest = base / "release"
    dest.mkdir()
    env = {
        "PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
        "PYTHON": str(PYENV / "bin" / f"python{MINOR}"),
        "LIBPYTHON": str(PYENV / "lib" / f"libpython{MINOR}.so.1.0"),
        "STDLIB": str(PYENV / "lib" / f"python{MINOR}"),
        "PYENV_PREFIX": str(PYENV),
        "BUILD_PYTHON": sys.executable,
        "DEST": str(dest),
        "CACHE": str(base / "cache"),
        "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src"),
    }
    proc = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", MAKE_STORE_AND_BUNDLE],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    name, own_loader = proc.stdout.split()[-2:]
    assert own_loader == "True"
    return dest / name


def test_the_runtime_runs_where_no_store_exists(bundled: Path) -> None:
    assert not Path(PREFIX).exists()  # outside the namespace the fake store is gone
    exe = bundled / "bin" / f"python{MINOR}"
    out = subprocess.run(
        [str(exe), "-I", "-c", "import sys, json, ssl, sqlite3, ctypes; print(sys.prefix); "
         "print(sys.executable)"],
        capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(bundled), str(exe)]


def test_the_loader_and_c_library_travel_and_the_binary_points_at_them(bundled: Path) -> None:
    assert (bundled / "lib" / "ld-linux-x86-64.so.2").is_file()
    assert (bundled / "lib" / "libc.so.6").is_file()
    elf = read_elf(bundled / "bin" / f".python{MINOR}-elf")
    assert elf is not None
    assert elf.interp == LOADER and elf.runpath == ("$ORIGIN/../lib",)


def test_the_bundle_names_no_store_path(bundled: Path) -> None:
    grep = subprocess.run(["grep", "-rl", "/nix/store", str(bundled)], capture_output=True)
    assert grep.returncode == 1, grep.stdout.decode()
