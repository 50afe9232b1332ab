let
  mkRelease = import ../mk-release.nix { toolSrc = "/src/pyrelease"; toolVersion = "0.1.0"; };
  pkgs = import ./fake-pkgs.nix { };
  demo = mkRelease { inherit pkgs; src = ../../examples; subdir = "demo-nix"; };
  minimal = mkRelease { inherit pkgs; src = ../../examples; subdir = "demo-nix"; release = "demo_minimal"; };
  musl = mkRelease { inherit pkgs; src = ../../examples; subdir = "demo-nix"; triple = "x86_64-unknown-linux-musl"; };
  fails = x: !(builtins.tryEval x).success;
in
{
  testDefaultReleaseForThisPlatform = { expr = [ demo.name demo.python.tag ]; expected = [ "demo-0.1.0" "gnu-311" ]; };
  testNamedRelease = { expr = minimal.name; expected = "demo_minimal-0.1.0"; };
  testTarballName = { expr = demo.tarball.name; expected = "demo-0.1.0.tar.gz"; };
  testClosureVariant = { expr = demo.closure.name; expected = "demo-0.1.0-closure"; };
  testPerTriple = { expr = musl.python.tag; expected = "musl-311"; };
  testToolOnTheSamePython = { expr = demo.pyrelease.name; expected = "pyrelease-0.1.0"; };
  testUnknownRelease = { expr = fails (mkRelease { inherit pkgs; src = ../../examples; subdir = "demo-nix"; release = "x"; }).name; expected = true; };
}
