"""Compute the node's configuration at boot.

Order, as in the model: build-time ``sys.config`` → ``runtime.py`` → config
providers → compile-env validation.
"""

import os

from pyrelease.node import appconfig, bootcache

TYPE_CHECKING = False  # typing costs milliseconds at boot; annotations are strings
if TYPE_CHECKING:
    from typing import Any


class BootConfigError(Exception):
    """The configuration cannot be computed; the node must not start."""


def read_json(path: str, what: str) -> "Any":
    """Read a JSON file written at build time."""
    try:
        return bootcache.load_json(path)  # json.load without json (boot time)
    except FileNotFoundError:
        raise BootConfigError(f"{what} {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise BootConfigError(f"{what} {path} is unreadable: {exc}") from None


def boot_settings(vsn_dir: str) -> "dict[str, Any]":
    """``releases/VSN/boot.json``: providers, compile-env reads, reboot flags.

    The first boot file a node reads: from here on, the files the build cached
    in ``vsn_dir`` (see ``bootcache``) are read from there when unchanged.
    """
    bootcache.use(vsn_dir)
    return read_json(os.path.join(vsn_dir, "boot.json"), "boot settings")


def compute(
    vsn_dir: str, sys_config_path: str, env: str, settings: "dict[str, Any]"
) -> "dict[str, Any]":
    """Return the final configuration for this boot (``settings`` from :func:`boot_settings`)."""
    config = read_json(sys_config_path, "sys.config")
    if os.environ.get("PYRELEASE_CONFIG_COMPUTED") != "1":
        runtime_py = os.path.join(vsn_dir, "runtime.py")
        if settings.get("runtime_config") and os.path.exists(runtime_py):
            shown = settings.get("runtime_config_path") or "config/runtime.py"
            try:
                code = bootcache.compiled(runtime_py)
                config = appconfig.evaluate_file(runtime_py, env=env, initial=config, code=code)
            except appconfig.ConfigFileError as exc:
                raise BootConfigError(str(exc)) from None
            except Exception as exc:
                raise BootConfigError(describe_error(exc, runtime_py, shown)) from None
        specs = settings.get("config_providers", [])
        if specs:
            from pyrelease.node import providers

            try:
                config = providers.apply(config, specs)
            except providers.ProviderError as exc:
                raise BootConfigError(str(exc)) from None
    if settings.get("validate_compile_env", True):
        check_compile_env(config, settings.get("compile_env", []))
    return config


def describe_error(exc: BaseException, path: str, shown: str) -> str:
    """``config/runtime.py line 4: ValueError: ...``: the file, its line, the error in words.

    The line is that of the innermost frame in ``path`` (the release's copy of the file).
    """
    line = exc.lineno if isinstance(exc, SyntaxError) and exc.filename == path else None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == path:
            line = tb.tb_lineno
        tb = tb.tb_next
    where = f"{shown} line {line}" if line else shown
    text = exc.msg if isinstance(exc, SyntaxError) else str(exc)
    return f"{where}: {type(exc).__name__}: {text}" if text else f"{where}: {type(exc).__name__}"


def check_compile_env(config: "dict[str, Any]", reads: "list[dict[str, Any]]") -> None:
    """Refuse to boot when a value read at build time differs at runtime."""
    for read in reads:
        now = config.get(read["app"], {}).get(read["key"], read.get("default"))
        if now != read["value"]:
            raise BootConfigError(
                f"the application {read['app']} was built with {read['key']}="
                f"{read['value']!r} but the runtime configuration sets {now!r}; "
                "rebuild the release or make the runtime value match "
                "(or set validate_compile_env = false)"
            )
