"""Set-up, and building the sample service with each tool.

```text
benchmarks/.cache/wheelhouse/   pinned wheels every build installs from (offline)
benchmarks/.venv/               pex, shiv, PyInstaller (requirements-tools.txt)
WORK/runner/demo_runner.py      the entry point of the non-pyrelease builds
WORK/builds/CONFIG/...          one copy of examples/demo per cold build
```

Every build runs offline: ``--no-index`` / ``--no-pypi`` with the wheelhouse as
``--find-links``, machine pip configuration ignored. A *cold* build starts from
a fresh copy of the project and empty tool caches (``XDG_CACHE_HOME``,
``PEX_ROOT``: pyrelease's runtime cache, pip's, pex's and PyInstaller's); warm
and edited rebuilds reuse the project and caches of the last cold build.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from measure import Result, clean_env, run_streamed, run_timed

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
DEMO = REPO / "examples" / "demo"
RUNNER = BENCH / "app_runner" / "demo_runner.py"
PROBE = BENCH / "pyrelease_probe.py"
CACHE = BENCH / ".cache"
TOOLS_VENV = BENCH / ".venv"
TOOL_REQUIREMENTS = BENCH / "requirements-tools.txt"
WHEEL_REQUIREMENTS = BENCH / "requirements-wheelhouse.txt"
#: The pip pex bootstraps for itself (its wheels are in the wheelhouse).
PEX_PIP_VERSION = "26.0.1"
#: Only pex needs these from the wheelhouse.
PEX_ONLY_WHEELS = {"pip", "wheel", "packaging"}
#: The demo's distributions, all local directories (what every tool installs).
LOCAL_PACKAGES = [".", "./packages/demo-speedups", "./packages/demo-extra"]
#: The file the "edit one source file" rebuilds change, and the distribution it belongs to.
EDITED_FILE = Path("src/demo/stats.py")
EDITED_DIST = "demo"


@dataclass
class Setup:
    """What every build and measurement needs."""

    work: Path
    pyrelease_python: Path  # the interpreter pyrelease is installed in
    host_python: Path  # its base interpreter: what every tool bundles or runs on
    wheelhouse: Path
    runner_dir: Path
    tools_bin: Path | None = None  # benchmarks/.venv/bin, when pex/shiv/PyInstaller are set up
    mix: str | None = None  # the model's mix command, when it is measured
    notes: list[str] = field(default_factory=list)


def lock_entry(name: str, version: str, wheel: Path) -> list[str]:
    """The pylock.toml lines of one package installed from a local wheel."""
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    return [
        "[[packages]]", f'name = "{name}"', f'version = "{version}"',
        "[[packages.wheels]]", f'name = "{wheel.name}"', f'path = "{wheel}"',
        f'hashes = {{ sha256 = "{digest}" }}', "",
    ]  # fmt: skip


def _quiet_pip_env() -> dict[str, str]:
    return clean_env({"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"})


def base_python(python: Path) -> Path:
    """The interpreter a virtual environment was made from (itself otherwise)."""
    out = subprocess.run(
        [str(python), "-c", "import sys; print(sys._base_executable)"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return Path(out.stdout.strip())


def wheel_pins(with_pex: bool) -> dict[str, str]:
    """name → version for the wheelhouse (the demo itself needs only setuptools)."""
    pins = {}
    for line in WHEEL_REQUIREMENTS.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower()] = version
    if not with_pex:
        pins = {k: v for k, v in pins.items() if k not in PEX_ONLY_WHEELS}
    return pins


def find_wheel(wheelhouse: Path, name: str, version: str) -> Path | None:
    prefix = f"{name.replace('-', '_').lower()}-{version}-"
    found = sorted(p for p in wheelhouse.glob("*.whl") if p.name.lower().startswith(prefix))
    return found[0] if found else None


def ensure_wheelhouse(python: Path, with_pex: bool) -> Path:
    """Download the pinned wheels once (from the package index); later runs reuse them."""
    wheelhouse = CACHE / "wheelhouse"
    wheelhouse.mkdir(parents=True, exist_ok=True)
    missing = [
        f"{n}=={v}" for n, v in wheel_pins(with_pex).items() if not find_wheel(wheelhouse, n, v)
    ]
    if missing:
        print(f"* downloading {', '.join(missing)} into {wheelhouse}", flush=True)
        run_timed(
            [str(python), "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
             "-d", str(wheelhouse), *missing],
            env=_quiet_pip_env(), timeout=600,
        ).check("downloading the wheelhouse")  # fmt: skip
    return wheelhouse


def ensure_tools(host_python: Path) -> Path:
    """benchmarks/.venv with the pinned pex, shiv and PyInstaller; its bin directory."""
    stamp_text = f"{hashlib.sha256(TOOL_REQUIREMENTS.read_bytes()).hexdigest()} {host_python}"
    stamp = TOOLS_VENV / ".bench-stamp"
    if stamp.is_file() and stamp.read_text() == stamp_text:
        return TOOLS_VENV / "bin"
    print(f"* installing pex, shiv and PyInstaller into {TOOLS_VENV}", flush=True)
    shutil.rmtree(TOOLS_VENV, ignore_errors=True)
    run_timed([str(host_python), "-m", "venv", str(TOOLS_VENV)]).check("creating the tools venv")
    run_timed(
        [str(TOOLS_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet",
         "-r", str(TOOL_REQUIREMENTS)],
        env=_quiet_pip_env(), timeout=900,
    ).check("installing the foreign tools")  # fmt: skip
    stamp.write_text(stamp_text)
    return TOOLS_VENV / "bin"


def tool_versions(setup: Setup) -> dict[str, str]:
    versions = {}
    for name, argv in {
        "host_python": [str(setup.host_python), "-VV"],
        "pyrelease": [str(setup.pyrelease_python), "-m", "pyrelease", "--version"],
    }.items():
        out = run_timed(argv)
        versions[name] = (
            (out.stdout + out.stderr).strip().splitlines()[0] if out.stdout + out.stderr else "?"
        )
    if setup.mix:
        import mixrelease  # imports tools: only here, to keep the import graph one-way

        versions.update(mixrelease.versions(setup.mix))
    if setup.tools_bin:
        for line in TOOL_REQUIREMENTS.read_text().splitlines():
            if "==" in line and not line.startswith("#"):
                name, version = line.split("==")
                versions[name.strip()] = version.strip()
    return versions


# --- the project ------------------------------------------------------------


def copy_demo(
    dest: Path, setup: Setup, strip: str | None = None, options: list[str] | None = None
) -> Path:
    """A copy of examples/demo (its committed lock names only its local packages);
    ``strip`` is a TOML value or None; ``options`` are more TOML lines for the ``demo``
    release's table."""
    shutil.copytree(
        DEMO, dest,
        ignore=shutil.ignore_patterns("_build", "build", "dist", "*.egg-info", "__pycache__"),
    )  # fmt: skip
    lines = [*([] if strip is None else [f"strip = {strip}"]), *(options or [])]
    if lines:
        pyproject = dest / "pyproject.toml"
        header = "[tool.pyrelease.releases.demo]\n"
        text = pyproject.read_text()
        if header not in text:
            raise RuntimeError(f"{DEMO / 'pyproject.toml'} has no {header.strip()} table")
        added = "".join(f"{line}\n" for line in lines)
        pyproject.write_text(text.replace(header, f"{header}{added}", 1))
    return dest


def edit_source(project: Path, n: int) -> None:
    """Change one module of the app (its bytecode changes too)."""
    with open(project / EDITED_FILE, "a") as f:
        f.write(f"\n_BENCH_EDIT = {n}\n")


# --- the tools --------------------------------------------------------------


@dataclass
class Build:
    """One build: its total time and each command it ran."""

    ms: float
    steps: list[Result]


class Tool:
    """How one tool builds the demo, where the result is, and how to start it."""

    key = ""  # the name --only accepts
    label = ""
    bundles_python = False

    def __init__(self, setup: Setup) -> None:
        self.setup = setup

    def env(self, cache: Path) -> dict[str, str]:
        cache.mkdir(parents=True, exist_ok=True)
        return clean_env(
            {
                "PIP_CONFIG_FILE": "/dev/null",  # machine pip config: no index, no find-links
                "PIP_NO_INDEX": "1",
                "PIP_FIND_LINKS": str(self.setup.wheelhouse),
                "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                "PIP_NO_INPUT": "1",
                "XDG_CACHE_HOME": str(cache),
                "PEX_ROOT": str(cache / "pex"),
                "PYTHONUNBUFFERED": "1",
            }
        )

    #: The build kinds this tool is measured on (``force`` and ``clone``: pyrelease's own).
    build_kinds: tuple[str, ...] = ("cold", "warm", "edit")
    #: Whether the result has ``bin/demo`` management commands (pid, rpc, eval, stop).
    has_commands = False
    #: What runtime the result carries ("" when it runs on the host's Python).
    inside = ""

    def copy_project(self, dest: Path) -> Path:
        """A fresh copy of the project this tool builds."""
        return copy_demo(dest, self.setup)

    def edit(self, project: Path, n: int) -> None:
        edit_source(project, n)

    def build(self, project: Path, cache: Path, kind: str) -> Build:
        (project / "dist").mkdir(exist_ok=True)
        steps = [self._run(argv, project, cache) for argv in self.commands(project, kind)]
        self.after_build(project)
        return Build(sum(s.ms for s in steps), steps)

    def _run(self, argv: list[str], project: Path, cache: Path) -> Result:
        return run_streamed(argv, env=self.env(cache), cwd=project).check(f"{self.label} build")

    def commands(self, project: Path, kind: str) -> list[list[str]]:
        """The build commands for ``kind`` (cold: a fresh copy and empty caches)."""
        raise NotImplementedError

    def after_build(self, project: Path) -> None:
        pass

    def artifact(self, project: Path) -> Path:
        raise NotImplementedError

    def start_argv(self, project: Path) -> list[str]:
        raise NotImplementedError

    def runtime_env(self, root: Path) -> dict[str, str]:
        return {}

    def tool(self, name: str) -> str:
        assert self.setup.tools_bin is not None
        return str(self.setup.tools_bin / name)


class Pyrelease(Tool):
    key = "pyrelease"
    bundles_python = True
    has_commands = True
    inside = "Python"
    #: force: ``--force`` with every cache warm; clone: a fresh copy, the caches warm
    #: (for the default configuration only: the targets are about it).
    build_kinds = ("cold", "warm", "force", "edit", "clone")

    def __init__(self, setup: Setup, variant: str, strip: str | None) -> None:
        super().__init__(setup)
        self.variant, self.strip = variant, strip
        self.label = f"pyrelease ({variant})"
        if strip is not None:
            self.build_kinds = ("cold", "warm", "edit")
        self.probe_log: Path | None = None

    def env(self, cache: Path) -> dict[str, str]:
        env = super().env(cache)
        if self.probe_log is not None:
            env["BENCH_PROBE_LOG"] = str(self.probe_log)
        return env

    def copy_project(self, dest: Path) -> Path:
        return copy_demo(dest, self.setup, self.strip)

    def commands(self, project: Path, kind: str) -> list[list[str]]:
        force = ["--force"] if kind == "force" else []
        return [[str(self.setup.pyrelease_python), str(PROBE), "build", "--overwrite", *force]]

    def artifact(self, project: Path) -> Path:
        return project / "_build" / "prod" / "rel" / "demo"

    def start_argv(self, project: Path) -> list[str]:
        return [str(self.artifact(project) / "bin" / "demo"), "start"]


class Venv(Tool):
    """The baseline: ``python -m venv`` + ``pip install``, run with ``python -m demo_runner``."""

    key = label = "venv"

    def commands(self, project: Path, kind: str) -> list[list[str]]:
        venv = self.artifact(project)
        python = str(venv / "bin" / "python")
        dirs = LOCAL_PACKAGES
        if kind == "cold":
            return [
                [str(self.setup.host_python), "-m", "venv", str(venv)],
                [python, "-m", "pip", "install", "--quiet", *dirs],
            ]
        return [
            [python, "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall", *dirs]
        ]

    def after_build(self, project: Path) -> None:
        site = next((self.artifact(project) / "lib").glob("python3.*/site-packages"))
        shutil.copy2(self.setup.runner_dir / "demo_runner.py", site / "demo_runner.py")

    def artifact(self, project: Path) -> Path:
        return project / "venv"

    def start_argv(self, project: Path) -> list[str]:
        return [str(self.artifact(project) / "bin" / "python"), "-m", "demo_runner"]


class Pex(Tool):
    key = label = "pex"

    def commands(self, project: Path, kind: str) -> list[list[str]]:
        return [
            [self.tool("pex"), "--pip-version", PEX_PIP_VERSION,
             "--python", str(self.setup.host_python),
             "--no-pypi", "--find-links", str(self.setup.wheelhouse),
             "-D", str(self.setup.runner_dir), "-m", "demo_runner",
             *LOCAL_PACKAGES, "-o", str(self.artifact(project))]
        ]  # fmt: skip

    def artifact(self, project: Path) -> Path:
        return project / "dist" / "demo.pex"

    def start_argv(self, project: Path) -> list[str]:
        return [str(self.setup.host_python), str(self.artifact(project))]

    def runtime_env(self, root: Path) -> dict[str, str]:
        return {"PEX_ROOT": str(root / "pex")}


class Shiv(Tool):
    key = label = "shiv"

    def commands(self, project: Path, kind: str) -> list[list[str]]:
        return [
            [self.tool("shiv"), "--python", str(self.setup.host_python),
             "-e", "demo_runner:main", "--site-packages", str(self.setup.runner_dir),
             "-o", str(self.artifact(project)),
             "--no-index", "--find-links", str(self.setup.wheelhouse),
             *LOCAL_PACKAGES]
        ]  # fmt: skip

    def artifact(self, project: Path) -> Path:
        return project / "dist" / "demo.pyz"

    def start_argv(self, project: Path) -> list[str]:
        return [str(self.setup.host_python), str(self.artifact(project))]

    def runtime_env(self, root: Path) -> dict[str, str]:
        return {"SHIV_ROOT": str(root / "shiv")}


class PyInstaller(Tool):
    """Onedir: the app installed in a build venv, analysed from the tools venv."""

    key = "pyinstaller"
    label = "PyInstaller onedir"
    bundles_python = True
    inside = "Python"

    def commands(self, project: Path, kind: str) -> list[list[str]]:
        venv = project / "build-venv"
        site = f"{venv}/lib/python{self._short()}/site-packages"
        pip = [
            self.tool("python"),
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--quiet",
        ]
        dirs = LOCAL_PACKAGES
        work = project / "build-pyinstaller"
        pyinstaller = [
            self.tool("pyinstaller"), "--noconfirm", "--onedir", "--name", "demo",
            "--log-level", "WARN", "--distpath", str(project / "dist"),
            "--workpath", str(work), "--specpath", str(work),
            "--paths", site, "--hidden-import", "demo.views",
            str(self.setup.runner_dir / "demo_runner.py"),
        ]  # fmt: skip
        if kind == "cold":
            return [
                [str(self.setup.host_python), "-m", "venv", "--without-pip", str(venv)],
                [*pip, *dirs],
                pyinstaller,
            ]
        return [[*pip, "--no-deps", "--force-reinstall", *dirs], pyinstaller]

    def _short(self) -> str:
        out = run_timed(
            [str(self.setup.host_python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]
        )
        return out.stdout.strip()

    def artifact(self, project: Path) -> Path:
        return project / "dist" / "demo"

    def start_argv(self, project: Path) -> list[str]:
        return [str(self.artifact(project) / "demo")]


#: pyrelease's build configurations: label → the release's ``strip`` option (None: default).
PYRELEASE_VARIANTS = {"strip": None, "strip=false": "false", "compress": "{ compress = true }"}
FOREIGN = ("pex", "shiv", "pyinstaller")
ALL_KEYS = ("pyrelease", "venv", *FOREIGN)


def make_tools(setup: Setup, only: set[str], variants: list[str]) -> list[Tool]:
    tools: list[Tool] = []
    if "pyrelease" in only:
        tools += [Pyrelease(setup, v, PYRELEASE_VARIANTS[v]) for v in variants]
    if "venv" in only:
        tools.append(Venv(setup))
    if setup.tools_bin is not None:
        classes = {"pex": Pex, "shiv": Shiv, "pyinstaller": PyInstaller}
        tools += [classes[k](setup) for k in FOREIGN if k in only]
    return tools
