"""The release's interpreter and console scripts: ``releases/VSN/bin/``.

```text
releases/VSN/bin/
  python          POSIX sh: runs the bundled runtime with the node's ``python``
                  command (the release-aware interpreter; ``sys.executable`` in
                  the release)
  SCRIPT          one per console script of every included distribution: a
                  sh/Python polyglot that re-runs itself with ``./python``
  __pycache__/    SCRIPT.cpython-XY.pyc: each script compiled by the release's
                  interpreter, which runs it from there (see ``bootcache.py``)
```
Nothing in them names an absolute path: a release keeps working when moved.
They are not on ``bin/``: ``bin/NAME exec SCRIPT`` reaches them, and
``bin/`` stays the release's own namespace.
"""

from __future__ import annotations

import configparser
import os
import re
from pathlib import Path
from typing import Any

from pyrelease.assemble.libs import LibDir
from pyrelease.templates import render

# An entry point value: "module.sub:attr.sub [extra]" (packaging's spec, extras ignored).
_ENTRY = re.compile(r"^\s*([\w.]+)\s*:\s*([\w.]+)\s*(\[.*\])?\s*$")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")


def console_scripts(site: Path, libs: list[LibDir]) -> dict[str, tuple[str, str, str, str]]:
    """Script name → (module, attribute, distribution, version), sorted by name.

    Distributions come in start order (dependencies first), so when two
    declare the same name the later one, closer to the project, wins.
    """
    found: dict[str, tuple[str, str, str, str]] = {}
    for lib in libs:
        if lib.dist.mode == "none":
            continue
        path = site / lib.dist.dist_info / "entry_points.txt"
        if not path.is_file():
            continue
        parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]  # names keep case
        try:
            parser.read_string(path.read_text(encoding="utf-8"))
        except configparser.Error:
            continue  # what the installer accepted; an unreadable file has no scripts for us
        if not parser.has_section("console_scripts"):
            continue
        for name, value in parser.items("console_scripts"):
            match = _ENTRY.match(value)
            if match and _NAME.match(name) and name != "python":
                found[name] = (match[1], match[2], lib.dist.display_name, lib.dist.version)
    return dict(sorted(found.items()))


def write_scripts(release: Any, vsn_dir: Path, libs: list[LibDir], env: Any, context: dict) -> None:
    """Write ``releases/VSN/bin/python`` and a launcher per console script."""
    bin_dir = vsn_dir / "bin"
    bin_dir.mkdir()
    launcher = bin_dir / "python"
    launcher.write_text(render(env, "python.sh.j2", **context), encoding="utf-8")
    os.chmod(launcher, 0o755)
    if release.site_packages is None:
        return
    for name, (module, attr, dist, version) in console_scripts(release.site_packages, libs).items():
        head, _, rest = attr.partition(".")
        text = render(
            env,
            "console_script.j2",
            script=name,
            dist=dist,
            version=version,
            release_name=release.name,
            module=module,
            import_name=head,
            call=attr if rest else head,
        )
        (bin_dir / name).write_text(text, encoding="utf-8")
        os.chmod(bin_dir / name, 0o755)
