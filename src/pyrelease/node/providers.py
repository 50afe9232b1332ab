"""Built-in config providers: TOML file, JSON file and environment variables.

A provider is a callable ``provider(config: dict, **args) -> dict`` that returns
the new configuration. Configure them in ``pyproject.toml``::

    config_providers = [
      { provider = "toml", path = "/etc/demo/config.toml" },
      { provider = "env", app = "demo", prefix = "DEMO_" },
      "mypkg.vault:load",
    ]
"""

import os

from pyrelease.node.appconfig import deep_merge, normalize_app

TYPE_CHECKING = False  # typing costs milliseconds at boot; annotations are strings
if TYPE_CHECKING:
    from typing import Any


class ProviderError(Exception):
    """A config provider failed; the message names the provider and the cause."""


def _read_file(path: str, optional: bool, parse: "Any") -> "dict[str, Any]":
    path = os.path.expandvars(path)
    try:
        with open(path, "rb") as f:
            data = parse(f)
    except FileNotFoundError:
        if optional:
            return {}
        raise ProviderError(f"configuration file {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise ProviderError(f"configuration file {path} is invalid: {exc}") from None
    if not isinstance(data, dict):
        raise ProviderError(f"configuration file {path} must hold a table of applications")
    return {normalize_app(k): v for k, v in data.items()}


def toml_file(config: "dict[str, Any]", *, path: str, optional: bool = False) -> "dict[str, Any]":
    """Merge a TOML file whose top-level tables are applications."""
    import tomllib

    return deep_merge(config, _read_file(path, optional, tomllib.load))


def json_file(config: "dict[str, Any]", *, path: str, optional: bool = False) -> "dict[str, Any]":
    """Merge a JSON file whose top-level keys are applications."""
    import json

    return deep_merge(config, _read_file(path, optional, json.load))


def env_vars(config: "dict[str, Any]", *, app: str, prefix: str) -> "dict[str, Any]":
    """Set ``app``'s keys from ``PREFIX_KEY`` variables (values parsed as JSON when they can be)."""
    import json

    values: dict[str, Any] = {}
    for name in sorted(os.environ):
        if name.startswith(prefix) and len(name) > len(prefix):
            raw = os.environ[name]
            try:
                value = json.loads(raw)
            except ValueError:
                value = raw
            values[name[len(prefix) :].lower()] = value
    return deep_merge(config, {normalize_app(app): values})


BUILTIN = {"toml": toml_file, "json": json_file, "env": env_vars}


def resolve(ref: str) -> "Any":
    """Resolve a builtin name or ``module:callable`` reference."""
    if ref in BUILTIN:
        return BUILTIN[ref]
    import importlib

    module, _, attr = ref.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def apply(config: "dict[str, Any]", specs: "list[dict[str, Any]]") -> "dict[str, Any]":
    """Run each provider in order over the configuration."""
    for spec in specs:
        args = dict(spec.get("args", {}))
        ref = spec["provider"]
        try:
            fn = resolve(ref)
            result = fn(config, **args)
        except ProviderError as exc:
            raise ProviderError(f"config provider {ref}: {exc}") from None
        except Exception as exc:
            why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise ProviderError(f"config provider {ref} failed: {why}") from None
        if not isinstance(result, dict):
            raise ProviderError(f"config provider {ref} returned {type(result).__name__}, not dict")
        config = result
    return config
