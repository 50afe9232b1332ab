"""Application configuration API, the Python counterpart of Elixir's ``Config``.

The same functions serve three places:

* ``config/config.py`` (and what it imports) is evaluated by ``pyrelease build``;
  the result is frozen into ``releases/VSN/sys.config``;
* ``config/runtime.py`` is copied into the release and evaluated at every boot;
* application code reads the final values with :func:`get_env`.

Example ``config/runtime.py``::

    import os
    from pyrelease.node.appconfig import config, config_env

    config("demo", port=int(os.environ.get("PORT", "4000")))
    if config_env() == "prod":
        config("demo", greeting="Hello")

Application names are normalised (lower case, ``-`` and ``.`` become ``_``), so
``config("demo-extra", ...)`` and ``config("demo_extra", ...)`` are the same.
Standard library only: this module runs inside releases.
"""

import os

TYPE_CHECKING = False  # typing costs milliseconds at boot; annotations are strings
if TYPE_CHECKING:
    from types import CodeType
    from typing import Any

_MISSING = object()


def normalize_app(name: str) -> str:
    """Return the configuration key of an application or distribution name.

    Runs of ``-``, ``_`` and ``.`` become one ``_`` (``re.sub(r"[-_.]+", "_", name)``
    without importing ``re``, ~1 ms of boot), then lower case.
    """
    key = name.replace("-", "_").replace(".", "_")
    while "__" in key:
        key = key.replace("__", "_")
    return key.lower()


_ATOMS = frozenset({str, int, float, bool, type(None), bytes})


def _deepcopy(value: "Any", memo: "dict[int, Any] | None" = None) -> "Any":
    """``copy.deepcopy`` for the JSON-shaped values a configuration holds.

    Dicts, lists and plain values are copied here (importing ``copy`` costs
    boot time); anything else goes to ``copy.deepcopy`` with the same memo, so
    shared and self-referencing values copy as ``copy.deepcopy`` copies them.
    """
    kind = type(value)
    if kind in _ATOMS:
        return value
    if memo is None:
        memo = {}
    if kind is dict or kind is list:
        done = memo.get(id(value))
        if done is not None:
            return done
        if kind is list:
            new_list: list[Any] = []
            memo[id(value)] = new_list
            new_list.extend(_deepcopy(item, memo) for item in value)
            return new_list
        new_dict: dict[Any, Any] = {}
        memo[id(value)] = new_dict
        for key, item in value.items():
            new_dict[_deepcopy(key, memo)] = _deepcopy(item, memo)
        return new_dict
    import copy

    return copy.deepcopy(value, memo)


class _State:
    """What the file being evaluated writes to, and what applications read."""

    def __init__(self) -> None:
        self.collecting: dict[str, dict[str, Any]] | None = None
        self.files: list[str] = []
        self.env = os.environ.get("PYRELEASE_ENV", "prod")
        self.target = "host"
        self.current: dict[str, dict[str, Any]] = {}
        self.compile_env_reads: list[dict[str, Any]] = []


_state = _State()


class ConfigFileError(Exception):
    """A configuration file could not be evaluated (raised with a clear message)."""


def deep_merge(base: "dict[str, Any]", extra: "dict[str, Any]") -> "dict[str, Any]":
    """Merge ``extra`` into a copy of ``base``; nested dicts merge, other values replace."""
    merged = dict(base)
    for key, value in extra.items():
        old = merged.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            merged[key] = deep_merge(old, value)
        else:
            merged[key] = _deepcopy(value)
    return merged


def config(app: str, **values: "Any") -> None:
    """Set configuration values for ``app``; nested dicts are deep-merged."""
    if _state.collecting is None:
        raise ConfigFileError("config() may only be called while a configuration file is evaluated")
    key = normalize_app(app)
    _state.collecting[key] = deep_merge(_state.collecting.get(key, {}), values)


def config_env() -> str:
    """The environment the configuration is evaluated for (``PYRELEASE_ENV``, ``prod``)."""
    return _state.env


def config_target() -> str:
    """The build target (``host`` unless cross-building)."""
    return _state.target


def import_config(path: str) -> None:
    """Evaluate another configuration file, relative to the file calling this.

    A missing file is an error, as in Elixir; guard with ``os.path.exists`` when
    a per-environment file is optional.
    """
    base = os.path.dirname(_state.files[-1]) if _state.files else os.getcwd()
    full = path if os.path.isabs(path) else os.path.join(base, path)
    if full in _state.files:
        raise ConfigFileError(f"{full} imports itself (import_config loop)")
    _run_file(full)


def _run_file(path: str, code: "CodeType | None" = None) -> None:
    if code is None:
        try:
            with open(path, "rb") as f:
                source = f.read()
        except OSError as exc:
            raise ConfigFileError(
                f"cannot read configuration file {path}: {exc.strerror}"
            ) from None
        code = compile(source, path, "exec")
    _state.files.append(path)
    try:
        exec(code, {"__name__": "__config__", "__file__": path})
    finally:
        _state.files.pop()


def evaluate_file(
    path: str,
    *,
    env: str,
    initial: "dict[str, Any] | None" = None,
    target: str = "host",
    code: "CodeType | None" = None,
) -> "dict[str, Any]":
    """Evaluate a configuration file and return ``initial`` merged with what it set.

    ``code``: the file already compiled (the node passes what the build
    compiled, see ``bootcache``); by default the file is read and compiled.
    """
    saved = (_state.collecting, _state.env, _state.target)
    _state.collecting = _deepcopy(initial or {})
    _state.env, _state.target = env, target
    try:
        _run_file(path, code)
        return _state.collecting
    finally:
        _state.collecting, _state.env, _state.target = saved


def set_current(values: "dict[str, Any]", *, env: str | None = None) -> None:
    """Install the node's final configuration (called by the node at boot)."""
    _state.current = values
    if env is not None:
        _state.env = env


def get_env(app: str, key: str | None = None, default: "Any" = None) -> "Any":
    """Read the running configuration: the whole app dict, or one key of it."""
    values = _state.current.get(normalize_app(app), {})
    if key is None:
        return values
    return values.get(key, default)


def fetch_env(app: str, key: str) -> "Any":
    """Like :func:`get_env` but raise ``KeyError`` with a clear message when unset."""
    value = _state.current.get(normalize_app(app), {}).get(key, _MISSING)
    if value is _MISSING:
        raise KeyError(f"configuration {normalize_app(app)}.{key} is not set")
    return value


def compile_env(app: str, key: str, default: "Any" = None) -> "Any":
    """Read a value at build time and record it.

    Call this from build-time code (``config/config.py`` or a build step). The
    release records the value; if the runtime configuration later disagrees, the
    node refuses to boot (unless ``validate_compile_env = false``).
    """
    source = _state.collecting if _state.collecting is not None else _state.current
    value = source.get(normalize_app(app), {}).get(key, default)
    _state.compile_env_reads.append(
        {"app": normalize_app(app), "key": key, "value": value, "default": default}
    )
    return value


def take_compile_env_reads() -> "list[dict[str, Any]]":
    """Return and clear the values recorded by :func:`compile_env` (build side)."""
    reads, _state.compile_env_reads = _state.compile_env_reads, []
    return reads
