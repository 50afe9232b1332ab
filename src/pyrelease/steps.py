"""Run a release's steps: user ``module:function`` steps, ``assemble`` and ``tar``.

As in the model, ``release.steps`` holds the steps still to run and is updated
before each one, so a step may inspect or change what comes after it.

``assemble`` and ``tar`` write aside (``release.staged``); only when every step
has succeeded are their outputs switched into place, so a step that fails
after ``assemble`` leaves the previous release and tarball as they were.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from pyrelease.errors import BuildError, ConfigError, PyreleaseError
from pyrelease.release import Release


def validate(steps: list[str]) -> None:
    """``assemble`` exactly once; ``tar`` at most once and only after it."""
    problems = []
    if steps.count("assemble") != 1:
        problems.append("the steps must include 'assemble' exactly once")
    if steps.count("tar") > 1:
        problems.append("the steps may include 'tar' only once")
    if "tar" in steps and "assemble" in steps and steps.index("tar") < steps.index("assemble"):
        problems.append("the 'tar' step must come after 'assemble'")
    if problems:
        raise ConfigError(problems)


def _resolve(ref: str, release: Release) -> Callable[[Release], Release]:
    module, _, attr = ref.partition(":")
    sys.path.insert(0, str(release.project.root))
    try:
        obj: object = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise BuildError(f"the step {ref} cannot be loaded: {exc}") from None
    finally:
        sys.path.remove(str(release.project.root))
    if not callable(obj):
        raise BuildError(f"the step {ref} is not callable")
    return obj  # type: ignore[return-value]


def run(release: Release, builtins: dict[str, Callable[[Release], Release]]) -> Release:
    """Run every step, then switch what they staged into place.

    A user step must return a ``Release``. When any step fails, what was staged
    is removed and the previous release is left as it was.
    """
    validate(release.steps)
    try:
        while release.steps:
            step = release.steps.pop(0)
            if step in builtins:
                release = builtins[step](release)
                continue
            result = _call(step, _resolve(step, release), release)
            if not isinstance(result, Release):
                got = type(result).__name__
                raise BuildError(f"the step {step} returned {got}, not the Release it was given")
            release = result
        commit(release)
    except BaseException:
        discard(release)
        raise
    return release


def _call(step: str, fn: Callable[[Release], Release], release: Release) -> object:
    """Call a user step; its exception becomes one sentence naming the step and the line."""
    try:
        return fn(release)
    except PyreleaseError:
        raise
    except Exception as exc:
        if os.environ.get("PYRELEASE_DEBUG"):
            raise
        frames = traceback.extract_tb(exc.__traceback__)
        where = ""
        if frames:
            where = f" at {release.relative(Path(frames[-1].filename))}:{frames[-1].lineno}"
        kept = "the previous release was kept; " if release.staged else ""
        raise BuildError(
            f"the step {step} failed{where}: {type(exc).__name__}: {exc}",
            tip=f"{kept}fix the step and build again (PYRELEASE_DEBUG=1 shows the traceback)",
        ) from exc


def commit(release: Release) -> None:
    """Switch every staged output into its final place; point ``release`` at them."""
    from pyrelease.assemble.fsutil import swap_into_place

    while release.staged:
        staged, final = release.staged[0]
        if staged.is_dir():
            # The replaced release is left aside; the next build removes it (while it
            # starts up), so this one does not wait for it.
            swap_into_place(staged, final, leave_aside=True)
        else:
            os.replace(staged, final)
            _remove_private_folder(staged)
        release.staged.pop(0)
        if release.path == staged:
            release.path = final
        tarball = release.extra.get("tarball")
        if tarball is not None and (Path(tarball) == staged or staged in Path(tarball).parents):
            release.extra["tarball"] = final / Path(tarball).relative_to(staged)


def discard(release: Release) -> None:
    """Remove what the steps staged and did not switch in (a failed or interrupted build)."""
    for staged, _ in release.staged:
        if staged.is_dir():
            shutil.rmtree(staged, ignore_errors=True)
        else:
            staged.unlink(missing_ok=True)
            _remove_private_folder(staged)
    release.staged.clear()


def _remove_private_folder(staged_file: Path) -> None:
    # A staged file is written alone in a folder made for it; rmdir removes it only if empty.
    try:
        os.rmdir(staged_file.parent)
    except OSError:
        pass
