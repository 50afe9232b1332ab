"""The rules behind the preload set and the strip of test folders, each on its own:
what a source imports, which test folders code needs, which modules are never
preloaded, and the ``preload`` option's validation."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pyrelease.assemble.importgraph import Graph, needed_test_dirs, plan_preload, tool_plugins
from pyrelease.assemble.imports import imports_of
from pyrelease.config import PreloadSpec, validate_release
from pyrelease.distributions import Distribution
from pyrelease.errors import ConfigError


def imports(source: str, module: str = "pkg.mod", package: bool = False):
    return imports_of(textwrap.dedent(source).encode(), module, is_package=package)


def test_absolute_relative_and_from_imports_name_every_package_on_the_way() -> None:
    found = imports(
        """
        import a.b.c
        from . import sibling
        from .. import up
        from .sub import name
        from x.y import z as w
        """,
        module="pkg.inner.mod",
    )
    assert found.eager == [
        "a", "a.b", "a.b.c", "pkg", "pkg.inner", "pkg.inner.sibling", "pkg.up",
        "pkg.inner.sub", "pkg.inner.sub.name", "x", "x.y", "x.y.z",
    ]  # fmt: skip
    assert found.required == found.eager == found.every


def test_a_package_resolves_relative_imports_from_itself() -> None:
    found = imports("from .core import x", module="pkg", package=True)
    assert found.eager == ["pkg.core", "pkg.core.x"]  # a module never lists itself


def test_function_guarded_and_type_checking_imports() -> None:
    found = imports(
        """
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            import only_for_types
        try:
            import optional
        except ImportError:
            optional = None
        class K:
            import in_class_body
        def later():
            import lazy
            importlib.import_module("by.name")
            __import__("dunder")
            import_module(some_variable)
        """
    )
    assert "only_for_types" not in found.every
    # typing.TYPE_CHECKING is a candidate: only the caller knows it is not a module.
    assert found.eager == ["typing", "typing.TYPE_CHECKING", "optional", "in_class_body"]
    assert found.required == ["typing", "typing.TYPE_CHECKING", "in_class_body"]
    assert found.every[4:] == ["lazy", "by", "by.name", "dunder"]


def test_module_names_in_strings_count_only_where_a_computed_import_can_use_them() -> None:
    # The standard library's pruning keeps plugins named this way (xml.sax's parsers).
    plugins = imports(
        """
        PARSERS = ["xml.sax.expatreader", "not a module", "json:loads", ""]
        def load(name):
            return __import__(name)
        """
    )
    assert plugins.named == ["xml.sax.expatreader", "json"]
    assert plugins.every == []  # named, not imported: the caller keeps the ones that exist
    plain = imports('PARSERS = ["xml.sax.expatreader"]\nimport json\n')
    assert plain.named == [] and plain.every == ["json"]


def test_an_unparseable_source_says_so() -> None:
    found = imports("def broken(:\n")
    assert not found.parsed and found.every == []


def _site(tmp_path: Path, files: dict[str, str]) -> tuple[Path, Distribution]:
    site = tmp_path / "site"
    for rel, text in files.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(textwrap.dedent(text))
    dist = Distribution("pkg", "pkg", "1.0", [], sorted(files), "pkg-1.0.dist-info")
    return site, dist


# Shaped like Django: pkg/test/ is imported by run-time code, pkg/tests/ only by itself,
# and pkg/test/utils.py imports pkg/testing_helpers/tests (needed in turn).
DJANGO_SHAPED = {
    "pkg/__init__.py": "",
    "pkg/core.py": "from pkg.test import signals\n",
    "pkg/test/__init__.py": "",
    "pkg/test/signals.py": "def later():\n    from pkg.helpers.tests import fixtures\n",
    "pkg/helpers/__init__.py": "",
    "pkg/helpers/tests/__init__.py": "",
    "pkg/helpers/tests/fixtures.py": "",
    "pkg/tests/__init__.py": "",
    "pkg/tests/test_core.py": "import pkg.core\nfrom pkg.other.tests import x\n",
    "pkg/other/__init__.py": "",
    "pkg/other/tests/__init__.py": "",
    "pkg/other/tests/x.py": "",
}


def test_strip_keeps_test_folders_that_kept_code_imports(tmp_path: Path) -> None:
    site, dist = _site(tmp_path, DJANGO_SHAPED)
    graph = Graph.build([dist], site, None)
    # pkg/tests and pkg/other/tests are imported only from inside pkg/tests: stripped.
    assert needed_test_dirs(graph, [dist]) == {"pkg": {"pkg/test", "pkg/helpers/tests"}}


def test_an_unparseable_module_keeps_the_test_folders_it_mentions(tmp_path: Path) -> None:
    site, dist = _site(tmp_path, {**DJANGO_SHAPED, "pkg/core.py": "from pkg import test\n("})
    graph = Graph.build([dist], site, None)
    assert "pkg/test" in needed_test_dirs(graph, [dist])["pkg"]


def test_the_import_scan_is_cached_by_content(tmp_path: Path) -> None:
    site, dist = _site(tmp_path, {"pkg/__init__.py": "import json\n"})
    cache = tmp_path / "cache"
    graph = Graph.build([dist], site, cache)
    assert not graph.modules["pkg"].scanned  # read only when a decision needs it
    assert graph.record("pkg").eager == ["json"]
    graph.save()
    assert len(list((cache / "imports").iterdir())) == 1
    assert Graph.build([dist], site, cache).modules["pkg"].scanned  # from the cache
    (site / "pkg" / "__init__.py").write_text("import csv\n")
    assert Graph.build([dist], site, cache).record("pkg").eager == ["csv"]


PLUGINS = {
    "app/__init__.py": "",
    "app/main.py": """
        import app.util
        def serve():
            from app import views, pytest_plugin, conftest, optional, tooling, wraps_optional
    """,
    "app/util.py": "from app.test import helpers\n",
    "app/test/__init__.py": "",
    "app/test/helpers.py": "",
    "app/views.py": "import json\n",
    "app/pytest_plugin.py": "",
    "app/conftest.py": "",
    "app/optional.py": "import not_installed\n",
    "app/wraps_optional.py": "from app import optional\n",
    "app/tooling.py": "import setuptools\n",
    "app/entry.py": "",
    "app/extra.py": "",
}


def test_plan_follows_imports_and_leaves_out_tests_plugins_and_missing(tmp_path: Path) -> None:
    site, dist = _site(tmp_path, PLUGINS)
    graph = Graph.build([dist], site, None)
    plan = plan_preload(graph, ["app.main"], set(graph.modules), plugins={"app.entry"})
    assert plan.modules == ["app.main", "app", "app.util", "app.views"]
    # app.test and app.test.helpers are not listed, but app.util imports them anyway.
    assert plan.skipped == {
        "app.conftest": "a test module",
        "app.optional": "needs not_installed, which the release does not have",
        "app.pytest_plugin": "a pytest plugin",
        "app.tooling": "imports setuptools, a development tool",
        "app.wraps_optional": "imports app.optional, which is not preloaded",
    }
    tuned = plan_preload(
        graph, ["app.main"], set(graph.modules),
        include=["app.ex*", "app.entry"], exclude=["app.views"], plugins={"app.entry"},
    )  # fmt: skip
    assert tuned.modules == ["app.main", "app", "app.util", "app.extra"]
    assert tuned.skipped["app.views"] == "excluded by preload.exclude 'app.views'"
    assert tuned.skipped["app.entry"].startswith("a plugin of another tool")


def test_pytest11_entry_points_are_tool_plugins(tmp_path: Path) -> None:
    site, dist = _site(tmp_path, {"pkg/__init__.py": ""})
    info = site / dist.dist_info
    info.mkdir()
    (info / "entry_points.txt").write_text(
        "[pytest11]\nmine = pkg.plugin\n[console_scripts]\ntool = pkg.cli:main\n"
    )
    assert tool_plugins([dist], site) == {"pkg.plugin"}


def test_preload_option_forms() -> None:
    spec = validate_release("r", {"preload": {"include": ["a.*"], "exclude": ["a.b", "c?"]}})
    assert spec.preload == PreloadSpec(("a.*",), ("a.b", "c?"))
    assert validate_release("r", {}).preload == PreloadSpec()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"inculde": []}, "`preload` has unknown option `inculde`; did you mean `include`?"),
        ("all", '`preload` must be an { include, exclude } table, got "all"'),
        ({"include": "a.*"}, "`preload.include` must be a list of non-empty strings"),
        ({"exclude": ["a b"]}, '`preload.exclude` has "a b", which is not a module name pattern'),
        ({"exclude": ["a..b"]}, "which is not a module name pattern"),
    ],
)
def test_preload_option_errors(value: object, expected: str) -> None:
    with pytest.raises(ConfigError) as exc:
        validate_release("r", {"preload": value})
    assert any(expected in p for p in exc.value.problems), exc.value.problems
