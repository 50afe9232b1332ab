"""The configuration API used by config/config.py, config/runtime.py and applications."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyrelease.node import appconfig, providers
from pyrelease.node.configload import BootConfigError, check_compile_env


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_config_files_merge_and_import_relative(tmp_path: Path) -> None:
    write(
        tmp_path / "config.py",
        "from pyrelease.node.appconfig import config, config_env, import_config\n"
        "config('demo-app', port=4000, db={'host': 'a', 'pool': 5})\n"
        "import_config(f'{config_env()}.py')\n",
    )
    write(
        tmp_path / "prod.py",
        "from pyrelease.node.appconfig import config\nconfig('demo_app', db={'host': 'b'})\n",
    )
    values = appconfig.evaluate_file(str(tmp_path / "config.py"), env="prod")
    assert values == {"demo_app": {"port": 4000, "db": {"host": "b", "pool": 5}}}


def test_missing_imported_file_is_a_clear_error(tmp_path: Path) -> None:
    write(
        tmp_path / "config.py",
        "from pyrelease.node.appconfig import import_config\nimport_config('nope.py')\n",
    )
    with pytest.raises(appconfig.ConfigFileError, match="cannot read configuration file"):
        appconfig.evaluate_file(str(tmp_path / "config.py"), env="prod")


def test_config_outside_a_file_is_refused() -> None:
    with pytest.raises(appconfig.ConfigFileError):
        appconfig.config("demo", port=1)


def test_get_env_and_fetch_env() -> None:
    appconfig.set_current({"demo": {"port": 1}})
    assert appconfig.get_env("demo", "port") == 1
    assert appconfig.get_env("Demo", "missing", 7) == 7
    with pytest.raises(KeyError, match=r"demo\.missing is not set"):
        appconfig.fetch_env("demo", "missing")


def test_compile_env_mismatch_refuses_to_boot() -> None:
    reads = [{"app": "demo", "key": "feature", "value": True, "default": None}]
    check_compile_env({"demo": {"feature": True}}, reads)
    with pytest.raises(BootConfigError, match="built with feature=True"):
        check_compile_env({"demo": {"feature": False}}, reads)


def test_builtin_providers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "c.toml", "[demo]\nport = 9\n[other]\nx = 1\n")
    write(tmp_path / "c.json", '{"demo": {"greeting": "hi"}}')
    monkeypatch.setenv("DEMO_WORKERS", "4")
    monkeypatch.setenv("DEMO_NAME", "plain text")
    result = providers.apply(
        {"demo": {"port": 1}},
        [
            {"provider": "toml", "args": {"path": str(tmp_path / "c.toml")}},
            {"provider": "json", "args": {"path": str(tmp_path / "c.json")}},
            {"provider": "env", "args": {"app": "demo", "prefix": "DEMO_"}},
        ],
    )
    assert result["demo"] == {"port": 9, "greeting": "hi", "workers": 4, "name": "plain text"}
    assert result["other"] == {"x": 1}


def test_provider_missing_file_names_it(tmp_path: Path) -> None:
    spec = [{"provider": "toml", "args": {"path": str(tmp_path / "none.toml")}}]
    with pytest.raises(providers.ProviderError, match=r"none\.toml does not exist"):
        providers.apply({}, spec)
    optional = [
        {"provider": "toml", "args": {"path": str(tmp_path / "none.toml"), "optional": True}}
    ]
    assert providers.apply({"a": {}}, optional) == {"a": {}}
