"""``[tool.pyrelease]`` in pyproject.toml → validated ``ProjectConfig`` / ``ReleaseSpec``.

Every check collects its problems; a single ``ConfigError`` then lists all of them.
"""

from __future__ import annotations

import difflib
import importlib
import json
import re
import sys
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from pyrelease import workspace
from pyrelease.commandspec import CHECKS as COMMAND_CHECKS
from pyrelease.commandspec import COMMAND_KEYS
from pyrelease.errors import ConfigError

MODES = ("permanent", "transient", "temporary", "load", "none")
STRIP_KEEP = ("sources", "docstrings", "tests")
EXECUTABLE_TARGETS = ("unix", "windows")
BUILTIN_PROVIDERS = ("toml", "json", "env")
TOOL_KEYS = ("mod", "default_release", "releases", *COMMAND_KEYS)
#: ``tar_format`` values and the file suffix of each tarball.
TAR_FORMATS = {"xz": ".tar.xz", "gz": ".tar.gz"}

_IDENT = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*"
_REF = re.compile(rf"{_IDENT}:{_IDENT}", re.ASCII)
_DIST = re.compile(r"[A-Z0-9](?:[A-Z0-9._-]*[A-Z0-9])?", re.IGNORECASE)
_COOKIE = re.compile(r"\w{8,}", re.ASCII)
_NAME = re.compile(r"\w[\w-]*", re.ASCII)
# A module name pattern for `preload`: dotted names with fnmatch wildcards.
_MODULE_PATTERN = re.compile(r"[\w*?\[\]!]+(?:\.[\w*?\[\]!]+)*", re.ASCII)
PRELOAD_KEYS = ("include", "exclude")
# A module name pattern for `prune_stdlib` keep/drop: dotted names with * and ? wildcards.
_PRUNE_PATTERN = re.compile(r"[A-Za-z_*?][\w*?]*(?:\.[A-Za-z_*?][\w*?]*)*", re.ASCII)


@dataclass(frozen=True)
class StripSpec:
    """What ``strip`` does: ship ``.pyc`` only, keeping ``keep``; ``compress`` zips apps."""

    enabled: bool = True
    keep: frozenset[str] = frozenset({"docstrings"})
    compress: bool = False


@dataclass(frozen=True)
class PreloadSpec:
    """Module name patterns (``fnmatch``) added to or removed from the preload set."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class PruneSpec:
    """What ``prune_stdlib`` does: drop standard-library modules the release cannot import,
    always keeping the ``keep`` modules and never the ``drop`` ones (names or patterns)."""

    enabled: bool = True
    keep: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProviderSpec:
    """A config provider: ``ref`` is ``"module:Callable"`` or a builtin name."""

    ref: str
    args: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class ReleaseSpec:
    """One release's validated options, every default applied."""

    name: str
    applications: tuple[tuple[str, str], ...] = ()
    strip: StripSpec = StripSpec()
    cookie: str | None = None
    validate_compile_env: bool = True
    path: str | None = None
    version: str | None = None
    version_from: str | None = None
    quiet: bool = False
    include_runtime: bool | str = True
    include_executables_for: tuple[str, ...] = EXECUTABLE_TARGETS
    rel_templates_path: str = "rel"
    overlays: tuple[str, ...] = ()
    steps: tuple[str, ...] = ("assemble",)
    tar_format: str = "xz"
    prune_stdlib: PruneSpec = PruneSpec()
    runtime_config_path: str | None = "config/runtime.py"
    reboot_system_after_config: bool = False
    prune_runtime_sys_config_after_boot: bool = False
    start_distribution_during_config: bool = False
    config_providers: tuple[ProviderSpec, ...] = ()
    skip_mode_validation_for: tuple[str, ...] = ()
    preload: PreloadSpec = PreloadSpec()
    # A command application: {"command": [...], "ready": ..., "ready_timeout": ...,
    # "command_mode": ...}, empty when the release runs none.
    command: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class ProjectConfig:
    """The project as pyproject.toml describes it; ``releases`` holds raw, unvalidated values."""

    root: Path
    name: str
    version: str
    mod: str | None
    default_release: str | None
    releases: dict[str, object] = field(default_factory=dict, hash=False)
    # `command`, `ready`, ... set in [tool.pyrelease] for every release
    command: dict[str, Any] = field(default_factory=dict, hash=False)
    #: The uv workspace this project is the root or a member of (``workspace.Workspace``).
    workspace: Any = field(default=None, hash=False, compare=False)

    @property
    def workspace_root(self) -> bool:
        """Whether this is a workspace's root, whose releases name their members."""
        here = Path(self.root).resolve()
        return self.workspace is not None and self.workspace.root == here

    @property
    def virtual(self) -> bool:
        """A workspace root without ``[project]``: configuration only, no application."""
        return self.workspace_root and self.workspace.virtual_root


def _show(value: object) -> str:
    """Render a TOML value for an error message, shortened."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _did_you_mean(word: str, choices: Iterable[str], what: str = "the options are") -> str:
    """``; did you mean `x`?`` when ``word`` is close to a choice, else list the choices."""
    choices = list(choices)
    close = difflib.get_close_matches(word, choices, n=1)
    if close:
        return f"; did you mean `{close[0]}`?"
    return f"; {what}: {', '.join(choices)}"


def is_version(value: object) -> bool:
    """Whether ``value`` is a PEP 440 version as written, with no surrounding spaces.

    ``packaging`` tolerates leading and trailing whitespace; a release version
    names a folder and a tarball, so pyrelease does not.
    """
    if not isinstance(value, str) or value != value.strip():
        return False
    try:
        Version(value)
    except InvalidVersion:
        return False
    return True


def check_cli_version(value: str) -> None:
    """Refuse a ``--version`` that the same check refuses in ``pyproject.toml``."""
    if not is_version(value):
        raise ConfigError(
            [f"--version {_show(value)} is not a valid PEP 440 version"],
            tip="give a version such as 1.2.3, 1.2.3rc1 or 1.2.3+build.4",
        )


def _is_ref(value: object) -> bool:
    """Whether ``value`` is a ``"module.path:attr"`` reference."""
    return isinstance(value, str) and _REF.fullmatch(value) is not None


def dist_name(name: str) -> str:
    """Normalise a distribution name per PEP 503 (lowercase, runs of ``-_.`` → ``-``)."""
    return str(canonicalize_name(name))


def release_default_name(project_name: str) -> str:
    """The name of the release used when none is configured: ``My-App.x`` → ``my_app_x``."""
    return re.sub(r"[-.]", "_", project_name.lower())


class _Check:
    """Collects the problems of one release table."""

    def __init__(self, release: str) -> None:
        self.release = release
        self.problems: list[str] = []

    def fail(self, key: str, text: str) -> None:
        self.problems.append(f"release {self.release}: `{key}` {text}")


def _bool(c: _Check, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        c.fail(key, f"must be true or false, got {_show(value)}")
    return bool(value)


def _string(c: _Check, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        c.fail(key, f"must be a non-empty string, got {_show(value)}")
        return ""
    return value


def _strings(c: _Check, key: str, value: Any) -> tuple[str, ...] | None:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        c.fail(key, f"must be a list of non-empty strings, got {_show(value)}")
        return None
    return tuple(value)


def _applications(c: _Check, key: str, value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        c.fail(key, f"must be a table of distribution name = mode, got {_show(value)}")
        return ()
    apps: dict[str, str] = {}
    for dist, mode in value.items():
        if not isinstance(dist, str) or not _DIST.fullmatch(dist):
            c.fail(key, f"has {_show(dist)}, which is not a valid distribution name")
            continue
        if mode not in MODES:
            hint = _did_you_mean(str(mode), MODES, "the modes are")
            c.fail(key, f"gives {dist} the mode {_show(mode)}, which is not a mode{hint}")
        if dist_name(dist) in apps:
            c.fail(key, f"lists {dist} twice (names are compared after PEP 503 normalisation)")
        apps[dist_name(dist)] = mode
    return tuple(apps.items())


def _strip(c: _Check, key: str, value: Any) -> StripSpec:
    if isinstance(value, bool):
        return StripSpec() if value else StripSpec(False, frozenset(), False)
    if not isinstance(value, dict):
        c.fail(key, f"must be true, false or a {{ keep, compress }} table, got {_show(value)}")
        return StripSpec()
    for extra in value.keys() - {"keep", "compress"}:
        c.fail(key, f"has unknown option `{extra}`{_did_you_mean(extra, ('keep', 'compress'))}")
    keep = value.get("keep", ["docstrings"])
    if not isinstance(keep, list) or any(k not in STRIP_KEEP for k in keep):
        names = ", ".join(map(_show, STRIP_KEEP))
        c.fail(f"{key}.keep", f"must be a list of {names}, got {_show(keep)}")
        keep = []
    compress = _bool(c, f"{key}.compress", value.get("compress", False))
    return StripSpec(True, frozenset(keep), compress)


def _preload(c: _Check, key: str, value: Any) -> PreloadSpec:
    if not isinstance(value, dict):
        c.fail(key, f"must be an {{ include, exclude }} table, got {_show(value)}")
        return PreloadSpec()
    for extra in value.keys() - set(PRELOAD_KEYS):
        c.fail(key, f"has unknown option `{extra}`{_did_you_mean(extra, PRELOAD_KEYS)}")
    lists: dict[str, tuple[str, ...]] = {}
    for name in PRELOAD_KEYS:
        patterns = _strings(c, f"{key}.{name}", value.get(name, [])) or ()
        for pattern in patterns:
            if not _MODULE_PATTERN.fullmatch(pattern):
                c.fail(
                    f"{key}.{name}",
                    f'has {_show(pattern)}, which is not a module name pattern such as "pkg.sub.*"',
                )
        lists[name] = patterns
    return PreloadSpec(**lists)


def _cookie(c: _Check, key: str, value: Any) -> str:
    if not isinstance(value, str) or not _COOKIE.fullmatch(value):
        # Never echo the value: it is a secret.
        c.fail(key, "must be a string of at least 8 letters, digits or underscores only")
        return ""
    return value


def _version(c: _Check, key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        if not is_version(value):
            c.fail(key, f"must be a valid PEP 440 version, got {_show(value)}")
        return {"version": value}
    if isinstance(value, dict) and value.keys() == {"from_dist"}:
        return {"version_from": dist_name(_string(c, f"{key}.from_dist", value["from_dist"]))}
    c.fail(key, f'must be a version string or {{ from_dist = "NAME" }}, got {_show(value)}')
    return {}


def _include_runtime(c: _Check, key: str, value: Any) -> bool | str:
    if isinstance(value, bool) or (isinstance(value, str) and value):
        return value
    c.fail(key, f"must be true, false or the path to a Python installation, got {_show(value)}")
    return True


def _executables(c: _Check, key: str, value: Any) -> tuple[str, ...]:
    targets = _strings(c, key, value)
    if targets is None:
        return ()
    if any(t not in EXECUTABLE_TARGETS for t in targets) or len(set(targets)) != len(targets):
        c.fail(key, f'must list "unix" and/or "windows", each at most once, got {_show(value)}')
    return targets


def _steps(c: _Check, key: str, value: Any) -> tuple[str, ...]:
    steps = _strings(c, key, value)
    if steps is None:
        return ("assemble",)
    for step in steps:
        if step not in ("assemble", "tar") and not _is_ref(step):
            c.fail(key, f'has {_show(step)}, which is not "assemble", "tar" or "module:function"')
    if steps.count("assemble") != 1:
        c.fail(key, f'must contain "assemble" exactly once, found {steps.count("assemble")}')
    elif steps.count("tar") > 1:
        c.fail(key, 'may contain "tar" at most once')
    elif "tar" in steps and steps.index("tar") < steps.index("assemble"):
        c.fail(key, 'must list "tar" after "assemble"')
    return steps


def _tar_format(c: _Check, key: str, value: Any) -> str:
    if not isinstance(value, str) or value not in TAR_FORMATS:
        c.fail(key, f'must be "xz" (.tar.xz, the smaller) or "gz" (.tar.gz), got {_show(value)}')
        return "xz"
    return value


def _prune_stdlib(c: _Check, key: str, value: Any) -> PruneSpec:
    if isinstance(value, bool):
        return PruneSpec(enabled=value)
    if not isinstance(value, dict):
        c.fail(key, f"must be true, false or a {{ keep, drop }} table, got {_show(value)}")
        return PruneSpec()
    for extra in value.keys() - {"keep", "drop"}:
        c.fail(key, f"has unknown option `{extra}`{_did_you_mean(extra, ('keep', 'drop'))}")
    lists = {}
    for part in ("keep", "drop"):
        names = _strings(c, f"{key}.{part}", value.get(part, [])) or ()
        for name in names:
            if not _PRUNE_PATTERN.fullmatch(name):
                c.fail(f"{key}.{part}", f"has {_show(name)}, which is not a module name "
                       '(like "xml.dom" or "email.*")')  # fmt: skip
        lists[part] = names
    return PruneSpec(True, lists["keep"], lists["drop"])


def _runtime_config_path(c: _Check, key: str, value: Any) -> str | None:
    if value is False:
        return None
    if isinstance(value, str) and value:
        return value
    c.fail(key, f"must be a path string or false, got {_show(value)}")
    return None


def _provider_ref(c: _Check, key: str, ref: Any) -> str:
    if ref in BUILTIN_PROVIDERS or _is_ref(ref):
        return ref
    names = ", ".join(map(_show, BUILTIN_PROVIDERS))
    c.fail(key, f'has provider {_show(ref)}; use "module:Callable" or one of {names}')
    return ""


def _providers(c: _Check, key: str, value: Any) -> tuple[ProviderSpec, ...]:
    if not isinstance(value, list):
        c.fail(key, f"must be a list of providers, got {_show(value)}")
        return ()
    specs = []
    for item in value:
        if isinstance(item, dict) and "provider" in item:
            args = {k: v for k, v in item.items() if k != "provider"}
            specs.append(ProviderSpec(_provider_ref(c, key, item["provider"]), args))
        elif isinstance(item, str):
            specs.append(ProviderSpec(_provider_ref(c, key, item)))
        else:
            c.fail(
                key, f'entries must be "module:Callable" or {{ provider = ... }}, not {_show(item)}'
            )
    return tuple(specs)


def _skip(c: _Check, key: str, value: Any) -> tuple[str, ...]:
    names = _strings(c, key, value)
    return tuple(dist_name(n) for n in names or ())


_Option = Callable[[_Check, str, Any], dict[str, Any]]


def _plain(check: Callable[[_Check, str, Any], Any]) -> _Option:
    """Turn a value checker into one that returns ``{key: checked value}``."""
    return lambda c, key, value: {key: check(c, key, value)}


_BOOLS = (
    "validate_compile_env",
    "quiet",
    "reboot_system_after_config",
    "prune_runtime_sys_config_after_boot",
    "start_distribution_during_config",
)
_OPTIONS: dict[str, _Option] = {
    "applications": _plain(_applications),
    "strip": _plain(_strip),
    "cookie": _plain(_cookie),
    **{key: _plain(_bool) for key in _BOOLS},
    "path": _plain(_string),
    "version": _version,
    "include_runtime": _plain(_include_runtime),
    "include_executables_for": _plain(_executables),
    "rel_templates_path": _plain(_string),
    "overlays": _plain(lambda c, k, v: _strings(c, k, v) or ()),
    "steps": _plain(_steps),
    "tar_format": _plain(_tar_format),
    "prune_stdlib": _plain(_prune_stdlib),
    "runtime_config_path": _plain(_runtime_config_path),
    "config_providers": _plain(_providers),
    "skip_mode_validation_for": _plain(_skip),
    "preload": _plain(_preload),
}


def _command_problems(where: str, table: dict[str, Any]) -> list[str]:
    problems = []
    for key in COMMAND_KEYS:
        if key in table:
            problem = COMMAND_CHECKS[key](table[key])
            if problem:
                problems.append(f"{where}: `{key}` {problem}, got {_show(table[key])}")
    if "command" not in table and any(k in table for k in COMMAND_KEYS):
        problems.append(f"{where}: `ready`/`ready_timeout`/`command_mode` need a `command`")
    return problems


def validate_release(
    name: str, table: dict[str, Any], defaults: dict[str, Any] | None = None
) -> ReleaseSpec:
    """Validate one release table and return its ``ReleaseSpec`` with defaults applied.

    ``defaults`` are the command settings of ``[tool.pyrelease]``, used for
    those the release does not set. Raises ``ConfigError`` listing every
    problem in the table at once.
    """
    check = _Check(name)
    fields: dict[str, Any] = {}
    command = {k: v for k, v in table.items() if k in COMMAND_KEYS}
    if "command" not in command and defaults:
        command = {**defaults, **command}
    elif defaults:
        command = {**{k: v for k, v in defaults.items() if k != "command"}, **command}
    check.problems += _command_problems(f"release {name}", command)
    if command:
        fields["command"] = command
    for key, value in table.items():
        if key in COMMAND_KEYS:
            continue
        if key in _OPTIONS:
            fields.update(_OPTIONS[key](check, key, value))
        else:
            hint = _did_you_mean(str(key), [*_OPTIONS, *COMMAND_KEYS])
            check.problems.append(f"release {name}: unknown option `{key}`{hint}")
    if check.problems:
        raise ConfigError(check.problems)
    return ReleaseSpec(name=name, **fields)


def _read_pyproject(root: Path) -> dict[str, Any]:
    path = root / "pyproject.toml"
    if path.exists() and not path.is_file():  # a named pipe would make the build wait forever
        raise ConfigError([f"{path} is not a regular file"])
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError([f"There is no pyproject.toml in {root}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path} is not valid TOML: {exc}"]) from None


def _check_releases(value: Any, problems: list[str]) -> dict[str, object]:
    if not isinstance(value, dict):
        problems.append("[tool.pyrelease] `releases` must be a table of release tables")
        return {}
    for name, release in value.items():
        if not _NAME.fullmatch(name):
            problems.append(f"release {name!r}: names may use only letters, digits, `_` and `-`")
        if not (isinstance(release, dict) or _is_ref(release)):
            problems.append(
                f'release {name}: must be a table or "module:function", not {_show(release)}'
            )
    return dict(value)


def _check_version(project: dict[str, Any], releases: dict[str, Any], problems: list[str]) -> str:
    version = project.get("version")
    if version is None:
        # Allowed when every release can give its own version (functions are checked later).
        if not releases or any(
            isinstance(r, dict) and "version" not in r for r in releases.values()
        ):
            dynamic = project.get("dynamic")
            dynamic = dynamic if isinstance(dynamic, list) else []
            how = "has a dynamic" if "version" in dynamic else "has no"
            problems.append(
                f"pyproject.toml {how} [project] version; set a static version "
                "or a `version` option in every release"
            )
        return ""
    if not is_version(version):
        problems.append(f"[project] version {_show(version)} is not a valid PEP 440 version")
    return str(version)


def _check_tool(tool: dict[str, Any], problems: list[str]) -> None:
    for key in tool:
        if key not in TOOL_KEYS:
            hint = _did_you_mean(key, TOOL_KEYS)
            problems.append(f"[tool.pyrelease] has unknown option `{key}`{hint}")
    mod = tool.get("mod")
    if mod is not None and not _is_ref(mod):
        problems.append(f'[tool.pyrelease] `mod` must be "module.path:callable", got {_show(mod)}')


def load_project(root: Path) -> ProjectConfig:
    """Read ``root/pyproject.toml`` into a ``ProjectConfig``.

    Release tables are kept raw; ``select_release`` validates the one that is built.
    Raises ``ConfigError`` listing every problem found.
    """
    root = Path(root)
    data = _read_pyproject(root)
    problems: list[str] = []
    project = data.get("project")
    ws = workspace.find(root)
    at_root = ws is not None and ws.root == root.resolve()
    virtual = project is None and at_root
    if virtual:
        project = {}  # a virtual workspace root: its releases name the members
    elif not isinstance(project, dict):
        problems.append("pyproject.toml has no [project] table")
        project = {}
    name = project.get("name")
    if virtual:
        name = ""
    elif not isinstance(name, str) or not name:
        problems.append("pyproject.toml has no [project] name")
        name = ""
    tools = data.get("tool", {})
    tool = tools.get("pyrelease", {}) if isinstance(tools, dict) else {}
    if not isinstance(tool, dict):
        problems.append("[tool.pyrelease] must be a table")
        tool = {}
    _check_tool(tool, problems)
    releases = _check_releases(tool.get("releases", {}), problems)
    if at_root and not releases:
        problems.append(
            "this workspace root defines no releases; add [tool.pyrelease.releases.NAME] "
            "tables whose `applications` name the members to start (the members are: "
            f"{ws.names()}), or build from inside a member"
        )
        version = ""
    else:
        version = _check_version(project, releases, problems)
    default = tool.get("default_release")
    known = list(releases) or [release_default_name(name)]
    if default is not None and default not in known:
        problems.append(
            f"[tool.pyrelease] `default_release` is {_show(default)}, which is not a release"
            f"{_did_you_mean(str(default), known, 'the releases are')}"
        )
    if problems:
        raise ConfigError(problems)
    command = {k: tool[k] for k in COMMAND_KEYS if k in tool}
    return ProjectConfig(
        root, name, version, tool.get("mod"), default, releases, command=command, workspace=ws
    )


def _call_release_function(root: Path, name: str, ref: str) -> dict[str, Any]:
    """Import ``module:function`` with the project root on ``sys.path`` and call it."""
    module_name, _, attr = ref.partition(":")
    entry = str(root)
    sys.path.insert(0, entry)
    try:
        importlib.invalidate_caches()
        try:
            target: Any = importlib.import_module(module_name)
            for part in attr.split("."):
                target = getattr(target, part)
        except (ImportError, AttributeError) as exc:
            raise ConfigError([f"release {name}: cannot load `{ref}`: {exc}"]) from exc
        try:
            result = target()
        except Exception as exc:
            msg = f"release {name}: calling `{ref}` failed: {type(exc).__name__}: {exc}"
            raise ConfigError([msg]) from exc
    finally:
        if entry in sys.path:
            sys.path.remove(entry)
    if not isinstance(result, dict):
        msg = f"release {name}: `{ref}` must return a dict of options, got {type(result).__name__}"
        raise ConfigError([msg])
    return result


def select_release(project: ProjectConfig, name: str | None, *, env: str = "prod") -> ReleaseSpec:
    """Pick the release to build, evaluate it if it is a function, and validate it.

    ``name=None`` picks ``default_release``, or the only release; with no releases
    configured there is one named after the project. ``env`` (``PYRELEASE_ENV``) must
    be a plain name, as it becomes the directory ``_build/ENV``.
    """
    if not _NAME.fullmatch(env):
        raise ConfigError([f"The environment {env!r} may use only letters, digits, `_` and `-`"])
    releases = project.releases or {release_default_name(project.name): {}}
    if name is None:
        name = project.default_release
    if name is None:
        if len(releases) > 1:
            msg = f"pyproject.toml defines several releases ({', '.join(releases)}); pass a"
            raise ConfigError([f"{msg} release name or set `default_release` in [tool.pyrelease]"])
        name = next(iter(releases))
    if name not in releases:
        available = ", ".join(releases)
        raise ConfigError([f"Unknown release {name}. The available releases are: {available}"])
    raw = releases[name]
    if isinstance(raw, str):
        raw = _call_release_function(project.root, name, raw)
    spec = validate_release(name, cast(dict[str, Any], raw), project.command)
    if project.workspace_root:
        workspace.check_applications(project.workspace, name, [a for a, _ in spec.applications])
    if not project.version and spec.version is None and spec.version_from is None:
        msg = "pyproject.toml has no [project] version, so `version` must be set"
        raise ConfigError([f"release {name}: {msg}"])
    return spec
