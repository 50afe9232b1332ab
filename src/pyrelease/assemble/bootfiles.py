"""Write what boots a release: ``releases/``, ``bin/NAME`` and the node package.

```text
bin/NAME                      POSIX sh dispatcher (from templates/bin.sh.j2)
bin/NAME.bat                  the same for Windows, when include_executables_for has it
releases/
  start_erl.data              "PYVSN VSN", no newline
  COOKIE                      only when the release sets `cookie` (mode 0400)
  VSN/
    start.json                boot manifest: paths, applications in start order, preload list
    start_clean.json          the same, nothing started (eval, rpc, remote)
    start.command             the command `start` may run before the node boots, when
                              nothing the boot does could change it (see node/earlystart.py)
    boot.json                 runtime settings: providers, compile_env, reboot
    sys.config                build-time configuration (JSON)
    runtime.py                config/runtime.py, when present
    boot.cache                the JSON files above, parsed (see bootcache.py)
    __pycache__/              runtime.py compiled (see bootcache.py)
    vm.args, remote.vm.args, env.sh, env.bat
    build_info.json           target triple, Python, system libraries needed
    node/pyrelease/node/      the runtime side (standard library only); __main__.pyc
                              is what bin/NAME runs for management commands and eval
    bin/python, bin/SCRIPT    the release's interpreter and console scripts (scripts.py)
    bin/__pycache__/          the console scripts compiled (see bootcache.py)
```
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import pyrelease
from pyrelease.assemble.bootcache import compile_boot_code, write_boot_cache
from pyrelease.assemble.fsutil import source_date_epoch
from pyrelease.assemble.importgraph import PreloadPlan
from pyrelease.assemble.libs import WORKER, LibDir, compile_files, plan_compile
from pyrelease.assemble.runtime import reuse
from pyrelease.assemble.scripts import write_scripts
from pyrelease.cachedirs import user_cache_dir
from pyrelease.commandspec import COMMAND_START, early_start, manifest_entry
from pyrelease.templates import environment, render

NODE_SRC = Path(pyrelease.__file__).parent / "node"
#: The entry point bin/NAME runs, below releases/VSN/ (also as a ``.pyc``, see copy_node).
MAIN_REL = "node/pyrelease/node/__main__.py"
#: What copy_node writes besides the compiled sources; part of its cache key.
NODE_LAYOUT = "pyc-main-1"


def _json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _write(path: Path, text: str, *, crlf: bool = False) -> None:
    # Batch files get CRLF line ends: cmd.exe mis-parses labels in LF-only files.
    if crlf:
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    path.write_bytes(text.encode("utf-8"))


def manifest(
    release: Any, libs: list[LibDir], *, clean: bool, plan: PreloadPlan | None = None
) -> dict[str, Any]:
    """The boot manifest for ``start`` (or ``start_clean`` when ``clean``).

    ``preload`` lists what embedded mode imports at boot, in order;
    ``preload_skipped`` what the build left out of it, with the reason
    (``start_clean`` preloads nothing).
    """
    plan = plan if plan is not None and not clean else PreloadPlan()
    apps = []
    for lib in libs:
        mode = lib.dist.mode
        if clean and mode != "none":
            mode = "load"
        apps.append(
            {
                "name": lib.dist.name,
                "version": lib.dist.version,
                "dir": lib.rel_path,
                "mode": mode,
                "start": lib.dist.start,
            }
        )
    commands = {}
    command = getattr(release.spec, "command", None)
    if command and not clean:  # runs last: after every in-process application is up
        name, settings = manifest_entry(release.name, command)
        mode = command.get("command_mode", "permanent")
        apps.append({"name": name, "version": release.version, "dir": "", "mode": mode,
                     "start": COMMAND_START})  # fmt: skip
        commands[name] = settings
    return {
        "format": 1,
        "commands": commands,
        "release": {"name": release.name, "version": release.version, "env": release.env},
        "python": {
            "version": release.python.version,
            "include_runtime": release.spec.include_runtime is not False,
        },
        "paths": [lib.rel_path for lib in libs if lib.dist.mode != "none"],
        "index": module_index(libs),
        "pth": [f"{lib.rel_path}/{p}" for lib in libs if lib.dist.mode != "none" for p in lib.pth],
        "applications": apps,
        "preload": plan.modules,
        "preload_skipped": plan.skipped,
    }


def module_index(libs: list[LibDir]) -> dict[str, str]:
    """Top-level module name → the one ``lib/`` folder that holds it.

    Names held by several folders (namespace packages) and names of the
    standard library (which comes first on ``sys.path``) are left out: the
    node's normal search handles them.
    """
    owners: dict[str, set[str]] = {}
    for lib in libs:
        if lib.dist.mode == "none":
            continue
        for module in lib.modules:
            owners.setdefault(module.split(".")[0], set()).add(lib.rel_path)
    return {
        name: next(iter(dirs))
        for name, dirs in sorted(owners.items())
        if len(dirs) == 1 and name not in sys.stdlib_module_names
    }


def boot_settings(release: Any) -> dict[str, Any]:
    """Settings the node reads at boot (``boot.json``)."""
    spec = release.spec
    return {
        "runtime_config": spec.runtime_config_path is not None
        and (release.project.root / spec.runtime_config_path).is_file(),
        "runtime_config_path": spec.runtime_config_path,
        "config_providers": [{"provider": p.ref, "args": p.args} for p in spec.config_providers],
        "validate_compile_env": spec.validate_compile_env,
        "compile_env": release.compile_env,
        "reboot_system_after_config": spec.reboot_system_after_config,
        "prune_runtime_sys_config_after_boot": spec.prune_runtime_sys_config_after_boot,
        "start_distribution_during_config": spec.start_distribution_during_config,
    }


def copy_node(
    vsn_dir: Path,
    python: Path,
    cache_tag: str,
    cache_dir: Path | None = None,
    previous: Path | None = None,
) -> None:
    """Copy the node package (sources kept for tracebacks) and precompile it.

    With ``cache_dir`` the compiled package is kept there, keyed by its sources,
    the compiler and the release version (which its ``.pyc`` name), and copied on
    later builds instead of compiled again; the files that ``previous`` (the same
    folder of the release being replaced) holds as they are are linked instead
    (see :mod:`pyrelease.assemble.runtime.reuse`).
    """
    sources = sorted(NODE_SRC.glob("*.py"))
    cached = None
    if cache_dir is not None:
        h = hashlib.sha256(f"{cache_tag}\0{vsn_dir.name}\0{NODE_LAYOUT}\0".encode())
        for src in [WORKER, Path(__file__).with_name("libs.py"), *sources]:
            h.update(src.name.encode() + b"\0" + hashlib.sha256(src.read_bytes()).digest())
        cached = cache_dir / h.hexdigest()[:24]
        if cached.is_dir():
            reuse.copy_linking(cached, previous, vsn_dir / "node", source_date_epoch())
            return
    pkg = vsn_dir / "node" / "pyrelease"
    (pkg / "node").mkdir(parents=True)
    (pkg / "__init__.py").write_text('"""pyrelease runtime side."""\n', encoding="utf-8")
    for src in sources:
        shutil.copyfile(src, pkg / "node" / src.name)
    jobs = plan_compile(vsn_dir / "node", f"releases/{vsn_dir.name}/node", cache_tag, False)
    # The entry point as a sourceless .pyc too: bin/NAME runs it for the management
    # commands, which then do not compile __main__.py at every call (a script is
    # never cached).
    main_py = pkg / "node" / "__main__.py"
    jobs.append((main_py, main_py.with_suffix(".pyc"), f"releases/{vsn_dir.name}/{MAIN_REL}"))
    compile_files(python, jobs, strip_docstrings=False)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".filling-", dir=cached.parent))
        try:
            shutil.copytree(vsn_dir / "node", tmp / "node")
            os.rename(tmp / "node", cached)
        except OSError:  # filled meanwhile by another build: keep theirs
            pass
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def write_boot_files(
    release: Any,
    root: Path,
    libs: list[LibDir],
    build_info: dict,
    plan: PreloadPlan | None = None,
    previous: Path | None = None,
) -> None:
    """Write ``releases/`` and ``bin/`` of the release being assembled at ``root``.

    ``previous``: the root of the release being replaced, whose unchanged files of
    the node package are linked (see :func:`copy_node`).
    """
    spec = release.spec
    vsn_dir = root / "releases" / release.version
    vsn_dir.mkdir(parents=True)
    start = manifest(release, libs, clean=False, plan=plan)
    settings = boot_settings(release)
    _json(vsn_dir / "start.json", start)
    _json(vsn_dir / "start_clean.json", manifest(release, libs, clean=True))
    _json(vsn_dir / "boot.json", settings)
    early = early_start(start, settings, [lib.dist.name for lib in libs])
    if early is not None:
        _json(vsn_dir / "start.command", early)
    _json(vsn_dir / "sys.config", release.config)
    _json(vsn_dir / "build_info.json", build_info)
    if spec.runtime_config_path is not None:
        runtime_py = release.project.root / spec.runtime_config_path
        if runtime_py.is_file():
            shutil.copyfile(runtime_py, vsn_dir / "runtime.py")
    env = environment(release.project.root / spec.rel_templates_path)
    context = {
        "release": release,
        "include_runtime": spec.include_runtime is not False,
        "python_short": release.python.version_short,
    }
    names = ["vm.args", "remote.vm.args", "env.sh"]
    if "windows" in spec.include_executables_for:
        names.append("env.bat")
    for name in names:
        _write(vsn_dir / name, render(env, f"{name}.j2", **context), crlf=name.endswith(".bat"))
    os.chmod(vsn_dir / "env.sh", 0o755)
    if "unix" in spec.include_executables_for:
        write_scripts(release, vsn_dir, libs, env, context)
    python_exe = release.python.executable
    cache_tag = f"cpython-{release.python.version_short.replace('.', '')}"
    old_node = previous / "releases" / release.version / "node" if previous is not None else None
    copy_node(vsn_dir, python_exe, cache_tag, user_cache_dir() / "node", old_node)
    compile_boot_code(vsn_dir, python_exe, cache_tag, user_cache_dir() / "boot-code")
    write_boot_cache(vsn_dir)
    (root / "releases" / "start_erl.data").write_text(
        f"{release.python.version} {release.version}", encoding="utf-8"
    )
    if "unix" in spec.include_executables_for:
        bin_dir = root / "bin"
        bin_dir.mkdir(exist_ok=True)
        script = bin_dir / release.name
        script.write_text(render(env, "bin.sh.j2", **context), encoding="utf-8")
        os.chmod(script, 0o755)
    if "windows" in spec.include_executables_for:
        (root / "bin").mkdir(exist_ok=True)
        _write(
            root / "bin" / f"{release.name}.bat", render(env, "bin.bat.j2", **context), crlf=True
        )
    if spec.cookie:
        cookie = root / "releases" / "COOKIE"
        cookie.write_text(spec.cookie, encoding="utf-8")
        os.chmod(cookie, 0o400)
