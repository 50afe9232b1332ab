"""Where in ``pyproject.toml`` a configuration problem is: the line of the offending key.

GitHub shows an annotation with a file and line on the pull request's diff, so
a configuration error of the build points at the very key to fix. Two halves:

* :func:`key_lines` reads a TOML document's text and records the line each key
  (and each table) is defined on. ``tomllib`` keeps no positions, so this is a
  small line scanner: tables, dotted keys, inline tables (their keys are on the
  line of the table), multi-line arrays and strings skipped.
* :func:`problem_key` turns a problem of a :class:`~pyrelease.errors.ConfigError`
  into the key path it is about, from the way the config module words them.
"""

from __future__ import annotations

import re

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_TOML_POS = re.compile(r"\(at line (\d+), column \d+\)")


def _key(text: str, pos: int) -> tuple[list[str], int] | None:
    """Parse a (dotted) key at ``text[pos:]``; the parts and the position after it."""
    parts: list[str] = []
    while True:
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        if pos < len(text) and text[pos] in "\"'":
            quote = text[pos]
            end = text.find(quote, pos + 1)
            if end < 0:
                return None
            raw = text[pos + 1 : end]
            parts.append(raw.encode().decode("unicode_escape") if quote == '"' else raw)
            pos = end + 1
        else:
            m = _BARE.match(text, pos)
            if m is None:
                return None
            parts.append(m.group())
            pos = m.end()
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        if pos < len(text) and text[pos] == ".":
            pos += 1
            continue
        return parts, pos


def _scan_value(text: str, depth: int) -> tuple[int, str | None]:
    """Bracket depth after ``text`` and an unclosed multi-line string delimiter, if any."""
    i = 0
    while i < len(text):
        c = text[i]
        if c == "#":
            break
        if text.startswith(('"""', "'''"), i):
            delim = text[i : i + 3]
            end = text.find(delim, i + 3)
            if end < 0:
                return depth, delim
            i = end + 3
            continue
        if c in "\"'":
            i += 1
            while i < len(text) and text[i] != c:
                i += 2 if c == '"' and text[i] == "\\" else 1
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        i += 1
    return max(depth, 0), None


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """The 1-based line on which each key path and table path of ``text`` first appears."""
    found: dict[tuple[str, ...], int] = {}
    table: list[str] = []
    depth, open_string = 0, None

    def record(path: list[str], line: int) -> None:
        for n in range(1, len(path) + 1):
            found.setdefault(tuple(path[:n]), line)

    for number, line in enumerate(text.splitlines(), start=1):
        if open_string is not None:
            if open_string in line:
                rest = line.split(open_string, 1)[1]
                open_string = None
                depth, open_string = _scan_value(rest, depth)
            continue
        if depth > 0:
            depth, open_string = _scan_value(line, depth)
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("["):
            start = 2 if stripped.startswith("[[") else 1
            parsed = _key(stripped, start)
            if parsed is not None:
                table = parsed[0]
                record(table, number)
            continue
        parsed = _key(stripped, 0)
        if parsed is None:
            continue
        keys, pos = parsed
        if stripped[pos : pos + 1] != "=":
            continue
        record(table + keys, number)
        depth, open_string = _scan_value(stripped[pos + 1 :], 0)
    return found


def find_line(text: str, path: tuple[str, ...]) -> int | None:
    """The line of ``path`` in ``text``, or of its longest prefix defined there.

    A key inside an inline table (``strip = { keep = [] }``) is on the line of the
    table, which is what the prefix gives.
    """
    lines = key_lines(text)
    for n in range(len(path), 0, -1):
        if path[:n] in lines:
            return lines[path[:n]]
    return None


_RELEASES = ("tool", "pyrelease", "releases")


def problem_key(problem: str, release: str | None = None) -> tuple[str, ...] | None:
    """The key path of ``pyproject.toml`` a configuration problem is about, if it names one.

    ``release`` is the release being built, for problems that do not name it
    (the step list's rules).
    """
    m = re.match(r"release '?([\w-]+)'?: (?:unknown option )?`([\w.-]+)`", problem)
    if m:
        return (*_RELEASES, m.group(1), *m.group(2).split("."))
    m = re.match(r"release '?([\w-]+)'?:", problem)
    if m:
        return (*_RELEASES, m.group(1))
    m = re.match(r"\[tool\.pyrelease\] (?:has unknown option )?`([\w-]+)`", problem)
    if m:
        return ("tool", "pyrelease", m.group(1))
    if problem.startswith("[tool.pyrelease]"):
        return ("tool", "pyrelease")
    if problem.startswith("Unknown release"):
        return _RELEASES
    if "requires-python" in problem:
        return ("project", "requires-python")
    if "[project] version" in problem:
        return ("project", "version")
    if "[project] name" in problem or "[project] table" in problem:
        return ("project",)
    if release and ("'assemble'" in problem or "'tar'" in problem):
        return (*_RELEASES, release, "steps")
    return None


def problem_line(problem: str, text: str, release: str | None = None) -> int | None:
    """The line of ``text`` (a pyproject.toml) that ``problem`` is about, if any."""
    m = _TOML_POS.search(problem)
    if m:
        return int(m.group(1))
    key = problem_key(problem, release)
    return find_line(text, key) if key else None
