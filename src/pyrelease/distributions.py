"""Installed distributions, the release's application closure and its modes.

An *application* is an installed distribution. The release holds the
project's distribution, the ones named in ``applications``, and everything
they require, recursively (``Requires-Dist`` with markers evaluated for the
target). Modes follow the model: a listed mode applies to the children of the
application; a child with several parents takes the highest-priority mode.
"""

from __future__ import annotations

import importlib.metadata as md
from dataclasses import dataclass, field
from pathlib import Path

from packaging.markers import UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from pyrelease.errors import BuildError, ConfigError

MODES = ("permanent", "transient", "temporary", "load", "none")
STARTED = ("permanent", "transient", "temporary")
ENTRY_POINT_GROUP = "pyrelease.application"


@dataclass
class Distribution:
    """An installed distribution in the build environment."""

    name: str  # canonical (PEP 503) name
    display_name: str
    version: str
    requires: list[Requirement]
    files: list[str]  # paths relative to site-packages, only those inside it
    dist_info: str  # e.g. "jinja2-3.1.6.dist-info"
    start: str | None = None
    mode: str = "permanent"
    children: list[str] = field(default_factory=list)

    @property
    def lib_name(self) -> str:
        """The folder name under ``lib/``: ``name-version`` with ``_`` for ``-``."""
        return f"{self.name.replace('-', '_')}-{self.version}"


def read_installed(site: Path) -> dict[str, Distribution]:
    """Every distribution installed in ``site``, by canonical name."""
    found: dict[str, Distribution] = {}
    for dist in md.distributions(path=[str(site)]):
        name = canonicalize_name(dist.metadata["Name"])
        if name in found:
            continue
        files = []
        for f in dist.files or []:
            rel = Path(f.as_posix())
            if ".." not in rel.parts and not rel.is_absolute():
                files.append(rel.as_posix())
        info_dir = Path(str(dist._path)).name  # type: ignore[attr-defined]
        requires = []
        for raw in dist.requires or []:
            try:
                requires.append(Requirement(raw))
            except InvalidRequirement as exc:
                raise BuildError(f"{name} has an invalid requirement {raw!r}: {exc}") from None
        eps = [ep for ep in dist.entry_points if ep.group == ENTRY_POINT_GROUP]
        found[name] = Distribution(
            name=name,
            display_name=dist.metadata["Name"],
            version=dist.version,
            requires=requires,
            files=sorted(files),
            dist_info=info_dir,
            start=eps[0].value if eps else None,
        )
    return found


def _wanted(req: Requirement, env: dict[str, str], extras: set[str]) -> bool:
    if req.marker is None:
        return True
    for extra in extras or {""}:
        try:
            if req.marker.evaluate({**env, "extra": extra}):
                return True
        except UndefinedEnvironmentName:
            return False
    return False


def closure(
    installed: dict[str, Distribution],
    roots: list[str],
    env: dict[str, str],
    *,
    check_versions: bool = True,
) -> list[Distribution]:
    """The roots and everything they require, dependencies before dependants.

    Order follows ``roots`` as far as dependencies allow (depth-first, post-order).
    """
    order: list[Distribution] = []
    seen: set[str] = set()
    problems: list[str] = []
    unknown = [canonicalize_name(r) for r in roots if canonicalize_name(r) not in installed]
    if unknown:
        raise ConfigError(
            [_not_installed(name, installed) for name in unknown],
            tip="correct the name in `applications`, or add the distribution to the "
            "project's dependencies",
        )

    def visit(name: str, extras: set[str], parent: str | None) -> None:
        dist = installed.get(name)
        if dist is None:
            where = f"required by {parent}" if parent else "named in the release"
            problems.append(f"{name} ({where}) is not installed in the build environment")
            return
        if name in seen and not extras:
            return
        seen.add(name)
        for req in dist.requires:
            if not _wanted(req, env, extras):
                continue
            child = canonicalize_name(req.name)
            if child not in dist.children:
                dist.children.append(child)
            dep = installed.get(child)
            if check_versions and dep and not req.specifier.contains(dep.version, prereleases=True):
                problems.append(
                    f"{dist.name} requires {req} but {child} {dep.version} is installed"
                )
            visit(child, set(req.extras), name)
        if dist not in order:
            order.append(dist)

    for root in roots:
        visit(canonicalize_name(root), set(), None)
    if problems:
        raise BuildError(
            "the build environment does not satisfy the release's requirements:\n"
            + "\n".join(f"  - {p}" for p in problems)
            + "\n(re-lock, rebuild with --force, or skip this check with --no-deps-check)"
        )
    return order


def _not_installed(name: str, installed: dict[str, Distribution]) -> str:
    import difflib

    close = difflib.get_close_matches(name, sorted(installed), n=1)
    hint = f"; did you mean `{close[0]}`?" if close else ""
    return f"`applications` names {name}, which is not installed in the build environment{hint}"


def assign_modes(
    dists: list[Distribution], explicit: dict[str, str], skip_validation: set[str]
) -> None:
    """Give each distribution its mode, then refuse unsafe combinations.

    A listed mode wins; otherwise a distribution takes the highest-priority mode
    among its parents (roots default to permanent).
    """
    by_name = {d.name: d for d in dists}
    parents: dict[str, list[str]] = {d.name: [] for d in dists}
    for d in dists:
        for child in d.children:
            if child in parents:
                parents[child].append(d.name)
    # dists is dependencies-first, so walk it backwards: parents before children.
    for d in reversed(dists):
        if d.name in explicit:
            d.mode = explicit[d.name]
        elif parents[d.name]:
            d.mode = min((by_name[p].mode for p in parents[d.name]), key=MODES.index)
        else:
            d.mode = "permanent"
    problems = []
    for d in dists:
        if d.mode not in STARTED or d.name in skip_validation:
            continue
        for child in d.children:
            c = by_name.get(child)
            if c is not None and c.mode in ("load", "none"):
                problems.append(
                    f"application {d.name} has mode {d.mode} but it depends on {c.name}, which "
                    f"is set to {c.mode}; set every application that depends on {c.name} to load "
                    f"or none, or add {d.name} to skip_mode_validation_for"
                )
    if problems:
        raise ConfigError(problems)
