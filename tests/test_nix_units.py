"""The Nix functions' own unit tests (run with the real ``nix eval``), and the promise
that nix/ uses only the listed nixpkgs attributes, all of which the stub implements."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from helpers import REPO
from nixhelpers import STUB, have_nix, nix

pytestmark = pytest.mark.skipif(
    not have_nix(), reason="nix is not installed (.ci/run installs nix-bin)"
)

NIX_FILES = [*sorted((REPO / "nix").glob("*.nix")), REPO / "flake.nix"]


def _eval_json(*args: str) -> object:
    result = nix("eval", "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def surface() -> dict[str, list[str]]:
    return _eval_json("-f", str(REPO / "nix" / "surface.nix"))  # type: ignore[return-value]


def test_every_nix_unit_test_passes() -> None:
    assert _eval_json("-f", str(REPO / "nix" / "tests")) == []


def test_a_broken_function_fails_its_unit_tests(tmp_path: Path) -> None:
    copy = tmp_path / "nix"
    shutil.copytree(REPO / "nix", copy)
    (tmp_path / "examples").symlink_to(REPO / "examples")
    triple = copy / "triple.nix"
    triple.write_text(triple.read_text().replace('"gnu"', '"gnueabi"'))
    failures = _eval_json("-f", str(copy / "tests"))
    assert {(f["file"], f["name"]) for f in failures} >= {("triple", "testGnu")}


def used_attributes(text: str) -> dict[str, set[str]]:
    """The nixpkgs attributes a Nix file reaches through ``pkgs``, ``ps`` and the platform."""
    text = re.sub(r"#.*", "", text)  # comments name attributes without using them
    pkgs = set()
    for first, second in re.findall(r"\bpkgs\.([\w-]+)(?:\.([\w-]+))?", text):
        pkgs.add(f"stdenv.{second}" if first == "stdenv" else first)
    return {
        "pkgs": pkgs,
        "pythonPackages": set(re.findall(r"\bps\.([\w-]+)", text)),
        "hostPlatform": set(re.findall(r"\bhostPlatform\.([\w-]+)", text)),
        "python": set(re.findall(r"\b(?:python|python3|python311)\.([\w-]+)", text)),
    }


def test_the_scanner_sees_an_unlisted_attribute() -> None:
    found = used_attributes("{ pkgs }: pkgs.hello // pkgs.stdenv.cc // ps.numpy # pkgs.gone")
    assert found["pkgs"] == {"hello", "stdenv.cc"} and found["pythonPackages"] == {"numpy"}


@pytest.mark.parametrize("path", NIX_FILES, ids=lambda p: p.name)
def test_nix_code_uses_only_the_listed_nixpkgs_attributes(path: Path) -> None:
    listed = surface()
    used = used_attributes(path.read_text())
    for kind, names in used.items():
        assert names <= set(listed[kind]), (
            f"{path.name} uses unlisted {kind}: {names - set(listed[kind])}"
        )
    # pythonXY, pkgsMusl and pkgsCross are reached by computed names in runtime.nix.
    if path.name == "runtime.nix":
        crosses = set(re.findall(r'"([\w-]+)" = "([\w-]+)";', path.read_text()))
        assert {name for _, name in crosses} <= set(listed["pkgsCross"])


def test_the_stub_implements_exactly_the_listed_attributes() -> None:
    listed = surface()
    expr = f"""
      let pkgs = (builtins.getFlake "path:{STUB}").legacyPackages.x86_64-linux; in {{
        pkgs = builtins.attrNames pkgs;
        stdenv = builtins.attrNames pkgs.stdenv;
        hostPlatform = builtins.attrNames pkgs.stdenv.hostPlatform;
        pkgsCross = builtins.attrNames pkgs.pkgsCross;
        python = builtins.filter (n: n == "withPackages") (builtins.attrNames pkgs.python311);
      }}"""
    stub = _eval_json("--impure", "--expr", expr)
    top = {n for n in listed["pkgs"] if "." not in n} - {"pythonXY"}
    assert set(stub["pkgs"]) - {"python311"} == top | {"stdenv"}
    assert {f"stdenv.{n}" for n in stub["stdenv"]} == {n for n in listed["pkgs"] if "." in n}
    assert stub["hostPlatform"] == sorted(listed["hostPlatform"])
    assert stub["pkgsCross"] == sorted(listed["pkgsCross"])
    assert stub["python"] == listed["python"]


def test_the_lock_pins_the_nixpkgs_the_flake_names() -> None:
    # A lock whose `original` differs from flake.nix's URL makes Nix re-lock over the network.
    url = re.search(
        r'inputs\.nixpkgs\.url = "github:([^/]+)/([^/]+)/([^"]+)";',
        (REPO / "flake.nix").read_text(),
    )
    assert url is not None
    lock = json.loads((REPO / "flake.lock").read_text())
    node = lock["nodes"][lock["nodes"]["root"]["inputs"]["nixpkgs"]]
    assert node["original"] == {"type": "github", "owner": url[1], "repo": url[2], "ref": url[3]}
    assert len(node["locked"]["rev"]) == 40 and node["locked"]["narHash"].startswith("sha256-")
