let
  mkRelease = import ../mk-release.nix { toolSrc = "/src/pyrelease"; toolVersion = "0.1.0"; };
  pkgs = import ./fake-pkgs.nix { };
  demo = mkRelease { inherit pkgs; src = ../../examples/demo; };
  minimal = mkRelease { inherit pkgs; src = ../../examples/demo; release = "demo_minimal"; };
  musl = mkRelease { inherit pkgs; src = ../../examples/demo; triple = "x86_64-unknown-linux-musl"; };
  # A project of its own whose release packs .tar.gz (tar_format = "gz").
  gz = mkRelease { inherit pkgs; src = ./fixtures/gz-project; };
  fails = x: !(builtins.tryEval x).success;
in
{
  testDefaultReleaseForThisPlatform = { expr = [ demo.name demo.python.tag ]; expected = [ "demo-0.1.0" "gnu-311" ]; };
  testNamedRelease = { expr = minimal.name; expected = "demo_minimal-0.1.0"; };
  testTarballName = { expr = demo.tarball.name; expected = "demo-0.1.0.tar.xz"; };
  testTarballNameFollowsTarFormat = { expr = gz.tarball.name; expected = "api-2.0.tar.gz"; };
  testClosureVariant = { expr = demo.closure.name; expected = "demo-0.1.0-closure"; };
  testPerTriple = { expr = musl.python.tag; expected = "musl-311"; };
  testToolOnTheSamePython = { expr = demo.pyrelease.name; expected = "pyrelease-0.1.0"; };
  testUnknownRelease = { expr = fails (mkRelease { inherit pkgs; src = ../../examples/demo; release = "x"; }).name; expected = true; };
}
