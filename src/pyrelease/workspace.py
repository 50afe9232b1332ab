"""uv workspaces: several projects in one repository, one ``uv.lock`` at its root.

The workspace root's ``pyproject.toml`` has ``[tool.uv.workspace]`` with
``members`` (glob patterns of directories, relative to the root) and an
optional ``exclude``. The root itself is a member when it has a ``[project]``
table; without one it is a *virtual* root, which holds configuration (and the
releases) but is no application.

A project is part of a workspace when it is the root or one of its members;
its lock file is then the root's ``uv.lock``, wherever it is built from.

Kept free of heavy imports: the up-to-date check reads the lock's location
through it before deciding whether anything needs building.
"""

from __future__ import annotations

import glob
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyrelease.errors import ConfigError

_REF = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*", re.ASCII)
LOCK_NAME = "uv.lock"


def _canonical(name: str) -> str:
    """PEP 503 normalisation (the same as ``packaging.utils.canonicalize_name``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Member:
    """One member project of a workspace."""

    name: str  # canonical (PEP 503) distribution name
    path: Path
    mod: str | None  # its own [tool.pyrelease] mod
    package: bool = True  # false for `tool.uv.package = false`: not a distribution
    version: str = ""  # its static [project] version, "" when dynamic


@dataclass(frozen=True)
class Workspace:
    """A uv workspace: its root, its members by canonical name, its lock file."""

    root: Path
    members: dict[str, Member] = field(default_factory=dict, hash=False)
    virtual_root: bool = False

    @property
    def lock(self) -> Path:
        """The workspace's one lock file, ``uv.lock`` at its root."""
        return self.root / LOCK_NAME

    def names(self) -> str:
        """The members' names, sorted, for messages."""
        return ", ".join(sorted(self.members)) or "(none)"

    def member_at(self, path: Path) -> Member | None:
        """The member whose directory is ``path``."""
        for member in self.members.values():
            if member.path == path:
                return member
        return None


def _read(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path} is not valid TOML: {exc}"]) from None


def _workspace_table(data: dict[str, Any]) -> dict[str, Any] | None:
    table = data.get("tool", {}).get("uv", {}).get("workspace")
    return table if isinstance(table, dict) else None


def is_workspace_root(data: dict[str, Any]) -> bool:
    """Whether a parsed ``pyproject.toml`` declares a uv workspace."""
    return _workspace_table(data) is not None


def _patterns(table: dict[str, Any], key: str, where: Path) -> list[str]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError([f"{where}: [tool.uv.workspace] `{key}` must be a list of glob patterns"])
    return value


def _expand(root: Path, patterns: list[str]) -> set[Path]:
    found: set[Path] = set()
    for pattern in patterns:
        for hit in glob.glob(pattern, root_dir=root):
            found.add(Path(os.path.normpath(root / hit)))
    return found


def _member(path: Path, data: dict[str, Any]) -> Member | None:
    project = data.get("project")
    if not isinstance(project, dict) or not isinstance(project.get("name"), str):
        return None
    tool = data.get("tool", {})
    mod = tool.get("pyrelease", {}).get("mod") if isinstance(tool, dict) else None
    if mod is not None and not (isinstance(mod, str) and _REF.fullmatch(mod)):
        raise ConfigError(
            [f'{path / "pyproject.toml"}: [tool.pyrelease] `mod` must be "module.path:callable"']
        )
    package = tool.get("uv", {}).get("package", True) if isinstance(tool, dict) else True
    version = project.get("version")
    version = version if isinstance(version, str) else ""
    return Member(_canonical(project["name"]), path, mod, package is not False, version)


def load(root: Path) -> Workspace:
    """Read the workspace declared by ``root/pyproject.toml`` and find its members.

    Members are the directories that a ``members`` glob matches and no
    ``exclude`` glob does, each with a ``pyproject.toml``; a directory a glob
    matches without one is an error (as in uv). The root is a member when it
    has a ``[project]``.
    """
    root = Path(root).resolve()
    data = _read(root / "pyproject.toml")
    table = _workspace_table(data)
    if table is None:
        raise ConfigError([f"{root / 'pyproject.toml'} declares no [tool.uv.workspace]"])
    where = root / "pyproject.toml"
    paths = _expand(root, _patterns(table, "members", where)) - _expand(
        root, _patterns(table, "exclude", where)
    )
    members: dict[str, Member] = {}
    problems: list[str] = []
    root_member = _member(root, data)
    if root_member is not None:
        members[root_member.name] = root_member
    for path in sorted(paths):
        if not path.is_dir() or path == root:
            continue
        if not (path / "pyproject.toml").is_file():
            rel = path.relative_to(root)
            problems.append(
                f"workspace member {rel} has no pyproject.toml; add one or list it in "
                "[tool.uv.workspace] exclude"
            )
            continue
        member = _member(path, _read(path / "pyproject.toml"))
        if member is None:
            problems.append(f"workspace member {path.relative_to(root)} has no [project] name")
        elif member.name in members:
            problems.append(f"two workspace members are named {member.name}")
        else:
            members[member.name] = member
    if problems:
        raise ConfigError(problems)
    return Workspace(root, dict(sorted(members.items())), root_member is None)


def find(project_root: Path) -> Workspace | None:
    """The workspace that ``project_root`` is the root or a member of, if any.

    As uv does, the nearest ``pyproject.toml`` above that declares a workspace
    decides; a project that it does not list as a member stands alone.
    """
    project_root = Path(project_root).resolve()
    for candidate in [project_root, *project_root.parents]:
        pyproject = candidate / "pyproject.toml"
        if not pyproject.is_file():
            continue
        try:
            data = _read(pyproject)
        except ConfigError:
            if candidate == project_root:
                raise
            continue
        if not is_workspace_root(data):
            continue
        workspace = load(candidate)
        if candidate == project_root or workspace.member_at(project_root) is not None:
            return workspace
        return None
    return None


def find_lock(project_root: Path) -> Path | None:
    """The workspace's ``uv.lock`` when ``project_root`` is part of a workspace that has one."""
    try:
        workspace = find(project_root)
    except ConfigError:
        return None
    if workspace is not None and workspace.lock.is_file():
        return workspace.lock
    return None


def check_applications(workspace: Workspace, release: str, applications: list[str]) -> None:
    """At a workspace root, a release names its members explicitly (at least one).

    Raises ``ConfigError`` naming the members when it names none.
    """
    if not any(_canonical(a) in workspace.members for a in applications):
        raise ConfigError(
            [
                f"release {release}: at a workspace root, `applications` must name at least one "
                f"workspace member to start; the members are: {workspace.names()}"
            ]
        )
    for name in applications:
        member = workspace.members.get(_canonical(name))
        if member is not None and not member.package:
            raise ConfigError(
                [
                    f"release {release}: workspace member {name} sets `tool.uv.package = false`, "
                    "so it is not a distribution a release can hold; remove it from "
                    "`applications` or make it a package"
                ]
            )
