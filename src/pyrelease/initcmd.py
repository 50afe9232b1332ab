"""``pyrelease init``: write the default templates into ``rel/`` for editing."""

from __future__ import annotations

from pathlib import Path

from pyrelease.console import Console
from pyrelease.errors import PyreleaseError
from pyrelease.templates import BUILTIN_DIR, USER_TEMPLATES


def write_templates(root: Path, *, force: bool, console: Console) -> list[Path]:
    """Copy the built-in templates to ``root/rel``; refuse to overwrite unless ``force``."""
    rel = root / "rel"
    targets = [rel / name for name in USER_TEMPLATES]
    existing = [t for t in targets if t.exists()]
    if existing and not force:
        names = ", ".join(str(t.relative_to(root)) for t in existing)
        raise PyreleaseError(f"{names} already exist", tip="pass --force to overwrite them")
    rel.mkdir(exist_ok=True)
    for target in targets:
        target.write_text((BUILTIN_DIR / target.name).read_text(encoding="utf-8"), encoding="utf-8")
        console.step(f"creating {target.relative_to(root)}")
    (rel / "overlays").mkdir(exist_ok=True)
    console.info()
    console.info("Edit these files; every following `pyrelease build` renders them with one")
    console.info("variable, `release`. Files in rel/overlays/ are copied into the release root.")
    return targets
