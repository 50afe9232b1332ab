"""Run a release's steps: user ``module:function`` steps, ``assemble`` and ``tar``.

As in the model, ``release.steps`` holds the steps still to run and is updated
before each one, so a step may inspect or change what comes after it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

from pyrelease.errors import BuildError, ConfigError
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
    """Run every step; a user step must return a ``Release``."""
    validate(release.steps)
    while release.steps:
        step = release.steps.pop(0)
        if step in builtins:
            release = builtins[step](release)
            continue
        fn = _resolve(step, release)
        result = fn(release)
        if not isinstance(result, Release):
            raise BuildError(
                f"the step {step} returned {type(result).__name__}, not the Release it was given"
            )
        release = result
    return release
