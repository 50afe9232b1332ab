"""Tests for pyrelease.config: loading pyproject.toml, validating and selecting releases."""

from __future__ import annotations

import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from pyrelease.config import (
    MODES,
    ProjectConfig,
    ProviderSpec,
    PruneSpec,
    ReleaseSpec,
    StripSpec,
    load_project,
    select_release,
    validate_release,
)
from pyrelease.errors import ConfigError, PyreleaseError

HEADER = '[project]\nname = "My-App"\nversion = "1.2.3"\n'


def write(root: Path, body: str, header: str = HEADER) -> Path:
    (root / "pyproject.toml").write_text(header + textwrap.dedent(body), encoding="utf-8")
    return root


def load(tmp_path: Path, body: str = "", header: str = HEADER) -> ProjectConfig:
    return load_project(write(tmp_path, body, header))


def problems(exc: pytest.ExceptionInfo[ConfigError]) -> str:
    return "\n".join(exc.value.problems)


def release(tmp_path: Path, options: str, name: str = "demo") -> ReleaseSpec:
    body = f"[tool.pyrelease.releases.{name}]\n" + textwrap.dedent(options)
    return select_release(load(tmp_path, body), name)


def release_error(options: dict[str, object]) -> str:
    with pytest.raises(ConfigError) as exc:
        validate_release("demo", options)
    return problems(exc)


# --------------------------------------------------------------------------- loading


def test_load_project_reads_project_and_tool_tables(tmp_path: Path) -> None:
    project = load(
        tmp_path,
        """
        [tool.pyrelease]
        mod = "my_app.app:start"
        default_release = "b"
        [tool.pyrelease.releases.a]
        quiet = true
        [tool.pyrelease.releases.b]
        """,
    )
    assert project.root == tmp_path
    assert project.name == "My-App"
    assert project.version == "1.2.3"
    assert project.mod == "my_app.app:start"
    assert project.default_release == "b"
    assert list(project.releases) == ["a", "b"]
    assert project.releases["a"] == {"quiet": True}


def test_load_project_without_tool_table(tmp_path: Path) -> None:
    project = load(tmp_path)
    assert (project.mod, project.default_release, project.releases) == (None, None, {})


def test_missing_pyproject(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no pyproject\.toml") as exc:
        load_project(tmp_path)
    assert isinstance(exc.value, PyreleaseError)


def test_invalid_toml_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nversion = \n')
    with pytest.raises(ConfigError, match="not valid TOML") as exc:
        load_project(tmp_path)
    assert "line 3" in exc.value.message


def test_missing_name_and_version_reported_together(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, "", header='[project]\ndescription = "x"\n')
    assert len(exc.value.problems) == 2
    assert "no [project] name" in problems(exc)
    assert "no [project] version" in problems(exc)
    assert exc.value.message.startswith("2 problems in the configuration:")


def test_missing_project_table(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no \[project\] table"):
        load(tmp_path, "", header="[tool.other]\nx = 1\n")


def test_dynamic_version_says_a_static_version_is_needed(tmp_path: Path) -> None:
    header = '[project]\nname = "x"\ndynamic = ["version"]\n'
    with pytest.raises(ConfigError, match=r"dynamic .*static version"):
        load(tmp_path, "", header=header)


def test_missing_version_allowed_when_every_release_sets_one(tmp_path: Path) -> None:
    header = '[project]\nname = "x"\ndynamic = ["version"]\n'
    body = '[tool.pyrelease.releases.a]\nversion = "2.0"\n'
    project = load(tmp_path, body, header=header)
    assert project.version == ""
    assert select_release(project, "a").version == "2.0"


def test_invalid_project_version(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a valid PEP 440"):
        load(tmp_path, "", header='[project]\nname = "x"\nversion = "one"\n')


def test_unknown_tool_key_did_you_mean(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, '[tool.pyrelease]\ndefault_relase = "x"\n')
    assert exc.value.problems == [
        "[tool.pyrelease] has unknown option `default_relase`; did you mean `default_release`?"
    ]


def test_unknown_tool_key_without_close_match_lists_options(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="the options are: mod, default_release, releases"):
        load(tmp_path, "[tool.pyrelease]\nzzz = 1\n")


@pytest.mark.parametrize("mod", ["app", "app:", ":start", "my-app:start", "a.b:c d", "1a:b"])
def test_bad_mod(tmp_path: Path, mod: str) -> None:
    with pytest.raises(ConfigError, match="`mod` must be"):
        load(tmp_path, f'[tool.pyrelease]\nmod = "{mod}"\n')


def test_default_release_must_exist(tmp_path: Path) -> None:
    body = '[tool.pyrelease]\ndefault_release = "demp"\n[tool.pyrelease.releases.demo]\n'
    with pytest.raises(ConfigError, match=r'`default_release` is "demp".*did you mean `demo`'):
        load(tmp_path, body)


def test_bad_release_values(tmp_path: Path) -> None:
    body = """
    [tool.pyrelease.releases]
    a = 3
    b = "not a ref"
    "c d" = {}
    """
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, body)
    text = problems(exc)
    assert 'release a: must be a table or "module:function", not 3' in text
    assert "release b:" in text
    assert "release 'c d': names may use only" in text


def test_all_project_problems_gathered(tmp_path: Path) -> None:
    body = """
    [tool.pyrelease]
    mood = 1
    mod = "nope"
    default_release = "zzz"
    """
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, body, header='[project]\nversion = "1"\n')
    assert len(exc.value.problems) == 4


# --------------------------------------------------------------------------- defaults and options


def test_defaults(tmp_path: Path) -> None:
    spec = release(tmp_path, "")
    assert spec == ReleaseSpec(name="demo")
    assert spec.applications == ()
    assert spec.strip == StripSpec(True, frozenset({"docstrings"}), False)
    assert spec.cookie is None
    assert spec.validate_compile_env is True
    assert spec.path is None
    assert (spec.version, spec.version_from) == (None, None)
    assert spec.quiet is False
    assert spec.include_runtime is True
    assert spec.include_executables_for == ("unix", "windows")
    assert spec.rel_templates_path == "rel"
    assert spec.overlays == ()
    assert spec.steps == ("assemble",)
    assert spec.tar_format == "xz"
    assert spec.prune_stdlib == PruneSpec(True, (), ())
    assert spec.runtime_config_path == "config/runtime.py"
    assert spec.reboot_system_after_config is False
    assert spec.prune_runtime_sys_config_after_boot is False
    assert spec.start_distribution_during_config is False
    assert spec.config_providers == ()
    assert spec.skip_mode_validation_for == ()
    hash(spec)


def test_modes_priority_order() -> None:
    assert MODES == ("permanent", "transient", "temporary", "load", "none")


def test_every_option_parsed(tmp_path: Path) -> None:
    spec = release(
        tmp_path,
        """
        applications = { My_App = "permanent", "Zope.Interface" = "load", aaa = "none" }
        strip = { keep = ["sources", "tests"], compress = true }
        cookie = "abcDEF_123"
        validate_compile_env = false
        path = "out/demo"
        version = "2.0.0rc1"
        quiet = true
        include_runtime = "/opt/python"
        include_executables_for = ["unix"]
        rel_templates_path = "release"
        overlays = ["extra", "more"]
        steps = ["pkg.steps:before", "assemble", "tar"]
        runtime_config_path = "config/prod_runtime.py"
        reboot_system_after_config = true
        prune_runtime_sys_config_after_boot = true
        start_distribution_during_config = true
        config_providers = [
          "pkg.cfg:Vault",
          { provider = "toml", path = "/etc/app.toml", required = false },
        ]
        skip_mode_validation_for = ["Some_Dist"]
        """,
    )
    assert spec.applications == (
        ("my-app", "permanent"),
        ("zope-interface", "load"),
        ("aaa", "none"),
    )
    assert spec.strip == StripSpec(True, frozenset({"sources", "tests"}), True)
    assert spec.cookie == "abcDEF_123"
    assert spec.validate_compile_env is False
    assert spec.path == "out/demo"
    assert spec.version == "2.0.0rc1"
    assert spec.version_from is None
    assert spec.quiet is True
    assert spec.include_runtime == "/opt/python"
    assert spec.include_executables_for == ("unix",)
    assert spec.rel_templates_path == "release"
    assert spec.overlays == ("extra", "more")
    assert spec.steps == ("pkg.steps:before", "assemble", "tar")
    assert spec.runtime_config_path == "config/prod_runtime.py"
    assert spec.reboot_system_after_config is True
    assert spec.prune_runtime_sys_config_after_boot is True
    assert spec.start_distribution_during_config is True
    assert spec.config_providers == (
        ProviderSpec("pkg.cfg:Vault", {}),
        ProviderSpec("toml", {"path": "/etc/app.toml", "required": False}),
    )
    assert spec.skip_mode_validation_for == ("some-dist",)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", StripSpec(True, frozenset({"docstrings"}), False)),
        ("false", StripSpec(False, frozenset(), False)),
        ("{ keep = [] }", StripSpec(True, frozenset(), False)),
        ('{ keep = ["tests"] }', StripSpec(True, frozenset({"tests"}), False)),
        ("{ compress = true }", StripSpec(True, frozenset({"docstrings"}), True)),
    ],
)
def test_strip_forms(tmp_path: Path, value: str, expected: StripSpec) -> None:
    assert release(tmp_path, f"strip = {value}\n").strip == expected


def test_version_from_dist(tmp_path: Path) -> None:
    spec = release(tmp_path, 'version = { from_dist = "Other_Dist" }\n')
    assert (spec.version, spec.version_from) == (None, "other-dist")


def test_other_option_forms(tmp_path: Path) -> None:
    spec = release(
        tmp_path,
        """
        include_runtime = false
        include_executables_for = []
        runtime_config_path = false
        steps = ["assemble", "pkg.mod:after", "tar"]
        """,
    )
    assert spec.include_runtime is False
    assert spec.include_executables_for == ()
    assert spec.runtime_config_path is None
    assert spec.steps == ("assemble", "pkg.mod:after", "tar")


# --------------------------------------------------------------------------- option errors


def test_tar_format_and_prune_stdlib_options(tmp_path: Path) -> None:
    spec = release(
        tmp_path,
        """
        tar_format = "gz"
        prune_stdlib = { keep = ["xml.dom", "email.*"], drop = ["pydoc"] }
        """,
    )
    assert spec.tar_format == "gz"
    assert spec.prune_stdlib == PruneSpec(True, ("xml.dom", "email.*"), ("pydoc",))
    assert validate_release("demo", {"prune_stdlib": False}).prune_stdlib.enabled is False


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"quiet": "yes"}, 'release demo: `quiet` must be true or false, got "yes"'),
        ({"validate_compile_env": 1}, "`validate_compile_env` must be true or false, got 1"),
        ({"reboot_system_after_config": "x"}, "`reboot_system_after_config` must be true"),
        ({"prune_runtime_sys_config_after_boot": 0}, "`prune_runtime_sys_config_after_boot` must"),
        ({"start_distribution_during_config": []}, "`start_distribution_during_config` must"),
        ({"applications": ["a"]}, "`applications` must be a table"),
        ({"applications": {"demo": "permanant"}}, "did you mean `permanent`?"),
        ({"applications": {"-bad-": "load"}}, "not a valid distribution name"),
        ({"applications": {"Foo_Bar": "load", "foo-bar": "none"}}, "lists foo-bar twice"),
        ({"strip": "yes"}, "`strip` must be true, false or a { keep, compress } table"),
        ({"strip": {"kep": []}}, "`strip` has unknown option `kep`; did you mean `keep`?"),
        ({"strip": {"keep": ["docs"]}}, "`strip.keep` must be a list of"),
        ({"strip": {"compress": "no"}}, "`strip.compress` must be true or false"),
        ({"path": ""}, "`path` must be a non-empty string"),
        ({"path": 3}, "`path` must be a non-empty string, got 3"),
        ({"version": "v1 beta"}, '`version` must be a valid PEP 440 version, got "v1 beta"'),
        ({"version": {"from_app": "x"}}, "`version` must be a version string or"),
        ({"version": 2}, "`version` must be a version string or"),
        ({"include_runtime": ""}, "`include_runtime` must be true, false or the path"),
        ({"include_runtime": 1}, "`include_runtime` must be true, false or the path"),
        ({"include_executables_for": ["linux"]}, '`include_executables_for` must list "unix"'),
        ({"include_executables_for": ["unix", "unix"]}, "each at most once"),
        ({"include_executables_for": "unix"}, "`include_executables_for` must be a list"),
        ({"rel_templates_path": False}, "`rel_templates_path` must be a non-empty string"),
        ({"overlays": "extra"}, "`overlays` must be a list of non-empty strings"),
        ({"overlays": ["ok", 1]}, "`overlays` must be a list of non-empty strings"),
        ({"steps": ["assemble", "zip"]}, '`steps` has "zip", which is not "assemble", "tar"'),
        ({"steps": []}, '`steps` must contain "assemble" exactly once, found 0'),
        ({"steps": ["assemble", "assemble"]}, 'must contain "assemble" exactly once, found 2'),
        ({"steps": ["tar", "assemble"]}, 'must list "tar" after "assemble"'),
        ({"steps": ["assemble", "tar", "tar"]}, 'may contain "tar" at most once'),
        ({"steps": "assemble"}, "`steps` must be a list"),
        ({"runtime_config_path": True}, "`runtime_config_path` must be a path string or false"),
        ({"config_providers": "toml"}, "`config_providers` must be a list"),
        ({"config_providers": ["yaml"]}, '`config_providers` has provider "yaml"'),
        ({"config_providers": [{"path": "x"}]}, "`config_providers` entries must be"),
        ({"config_providers": [{"provider": 1}]}, "`config_providers` has provider 1"),
        ({"skip_mode_validation_for": [1]}, "`skip_mode_validation_for` must be a list"),
        ({"tar_format": "zip"}, '`tar_format` must be "xz" (.tar.xz, the smaller) or "gz"'),
        ({"tar_format": ["xz"]}, '`tar_format` must be "xz"'),
        ({"prune_stdlib": "yes"}, "`prune_stdlib` must be true, false or a { keep, drop } table"),
        ({"prune_stdlib": {"kep": []}}, "`prune_stdlib` has unknown option `kep`; did you mean"),
        ({"prune_stdlib": {"keep": "xml"}}, "`prune_stdlib.keep` must be a list"),
        ({"prune_stdlib": {"drop": ["a b"]}}, '`prune_stdlib.drop` has "a b", which is not a'),
    ],
)
def test_option_errors(options: dict[str, object], expected: str) -> None:
    text = release_error(options)
    assert text.startswith("release demo: `")
    assert expected in text


@pytest.mark.parametrize("cookie", ["short", "has space in it", "dash-is-bad-here", 12345678])
def test_bad_cookie_is_never_echoed(cookie: object) -> None:
    text = release_error({"cookie": cookie})
    assert "release demo: `cookie` must be a string of at least 8 letters" in text
    assert "underscores only" in text
    assert str(cookie) not in text


def test_unknown_release_option_did_you_mean() -> None:
    assert release_error({"quite": True}) == (
        "release demo: unknown option `quite`; did you mean `quiet`?"
    )


def test_unknown_release_option_without_close_match() -> None:
    assert "the options are: applications, strip" in release_error({"zzzzz": 1})


def test_several_release_errors_reported_together(tmp_path: Path) -> None:
    body = """
    [tool.pyrelease.releases.demo]
    quiet = "yes"
    stripp = true
    steps = ["tar"]
    include_runtime = 0
    """
    project = load(tmp_path, body)
    with pytest.raises(ConfigError) as exc:
        select_release(project, "demo")
    assert len(exc.value.problems) == 4
    assert exc.value.message.startswith("4 problems in the configuration:")
    assert all(p.startswith("release demo: ") for p in exc.value.problems)
    assert "did you mean `strip`?" in exc.value.message


# --------------------------------------------------------------------------- selection


def test_no_releases_gives_project_named_default(tmp_path: Path) -> None:
    project = load(tmp_path, "", header='[project]\nname = "My-Cool.App"\nversion = "1"\n')
    assert select_release(project, None) == ReleaseSpec(name="my_cool_app")
    assert select_release(project, "my_cool_app").name == "my_cool_app"
    with pytest.raises(ConfigError, match=r"Unknown release my-cool-app\. The available releases"):
        select_release(project, "my-cool-app")


def test_default_release_may_name_the_project_default(tmp_path: Path) -> None:
    project = load(tmp_path, '[tool.pyrelease]\ndefault_release = "my_app"\n')
    assert select_release(project, None).name == "my_app"


def test_unknown_release(tmp_path: Path) -> None:
    body = "[tool.pyrelease.releases.demo]\n[tool.pyrelease.releases.other]\n"
    with pytest.raises(ConfigError) as exc:
        select_release(load(tmp_path, body), "nosuch")
    assert exc.value.message == "Unknown release nosuch. The available releases are: demo, other"


def test_several_releases_and_no_name(tmp_path: Path) -> None:
    body = "[tool.pyrelease.releases.demo]\n[tool.pyrelease.releases.other]\n"
    with pytest.raises(ConfigError) as exc:
        select_release(load(tmp_path, body), None)
    assert "several releases (demo, other)" in exc.value.message
    assert "pass a release name or set `default_release` in [tool.pyrelease]" in exc.value.message


def test_single_release_needs_no_name(tmp_path: Path) -> None:
    project = load(tmp_path, "[tool.pyrelease.releases.only]\nquiet = true\n")
    assert select_release(project, None) == ReleaseSpec(name="only", quiet=True)


def test_default_release_is_used_without_name(tmp_path: Path) -> None:
    body = """
    [tool.pyrelease]
    default_release = "other"
    [tool.pyrelease.releases.demo]
    [tool.pyrelease.releases.other]
    quiet = true
    """
    project = load(tmp_path, body)
    assert select_release(project, None) == ReleaseSpec(name="other", quiet=True)
    assert select_release(project, "demo") == ReleaseSpec(name="demo")


def test_only_the_selected_release_is_validated(tmp_path: Path) -> None:
    body = '[tool.pyrelease.releases.good]\n[tool.pyrelease.releases.bad]\nquiet = "yes"\n'
    project = load(tmp_path, body)
    assert select_release(project, "good").name == "good"
    with pytest.raises(ConfigError, match="release bad: `quiet`"):
        select_release(project, "bad")


def test_bad_env_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="environment"):
        select_release(load(tmp_path), None, env="../prod")


def test_missing_version_still_needed_from_function_release(tmp_path: Path) -> None:
    module = unique_module()
    (tmp_path / f"{module}.py").write_text("def make():\n    return {}\n")
    header = '[project]\nname = "x"\n'
    project = load(tmp_path, f'[tool.pyrelease.releases]\nfn = "{module}:make"\n', header=header)
    with pytest.raises(ConfigError, match=r"release fn: .*`version` must be set"):
        select_release(project, "fn")


# --------------------------------------------------------------------------- release functions


def unique_module() -> str:
    return f"relfns_{uuid.uuid4().hex}"


def test_release_function_only_called_when_selected(tmp_path: Path) -> None:
    module = unique_module()
    (tmp_path / f"{module}.py").write_text(
        textwrap.dedent(
            """
            CALLS = []

            def good():
                CALLS.append("good")
                return {"version": "9.9.9", "quiet": True}

            def boom():
                raise RuntimeError("boom must never be called")
            """
        )
    )
    body = f"""
    [tool.pyrelease.releases]
    demo = "{module}:good"
    other = "{module}:boom"
    """
    project = load(tmp_path, body)
    assert project.releases["demo"] == f"{module}:good"
    path_before = list(sys.path)
    spec = select_release(project, "demo")
    assert spec == ReleaseSpec(name="demo", version="9.9.9", quiet=True)
    assert sys.modules[module].CALLS == ["good"]
    assert sys.path == path_before
    with pytest.raises(ConfigError, match=r"release other: calling `.*:boom` failed: RuntimeError"):
        select_release(project, "other")


def test_release_function_must_return_a_dict(tmp_path: Path) -> None:
    module = unique_module()
    (tmp_path / f"{module}.py").write_text("def make():\n    return ['quiet']\n")
    project = load(tmp_path, f'[tool.pyrelease.releases]\ndemo = "{module}:make"\n')
    with pytest.raises(ConfigError) as exc:
        select_release(project, "demo")
    assert (
        exc.value.message
        == f"release demo: `{module}:make` must return a dict of options, got list"
    )


def test_release_function_result_is_validated(tmp_path: Path) -> None:
    module = unique_module()
    (tmp_path / f"{module}.py").write_text("def make():\n    return {'quiet': 'yes'}\n")
    project = load(tmp_path, f'[tool.pyrelease.releases]\ndemo = "{module}:make"\n')
    with pytest.raises(ConfigError, match="release demo: `quiet` must be true or false"):
        select_release(project, "demo")


def test_release_function_missing(tmp_path: Path) -> None:
    module = unique_module()
    (tmp_path / f"{module}.py").write_text("X = 1\n")
    project = load(tmp_path, f'[tool.pyrelease.releases]\na = "{module}:nope"\nb = "zz_no_mod:f"\n')
    with pytest.raises(ConfigError, match=f"release a: cannot load `{module}:nope`"):
        select_release(project, "a")
    with pytest.raises(ConfigError, match="release b: cannot load `zz_no_mod:f`"):
        select_release(project, "b")
