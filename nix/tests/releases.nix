let
  releases = import ../releases.nix;
  demo = releases (builtins.fromTOML (builtins.readFile ../../examples/demo-nix/pyproject.toml));
  bare = releases { project = { name = "api"; version = "2.0"; }; };
  two = releases { project = { name = "api"; version = "2.0"; }; tool.pyrelease.releases = { a = { }; b = { version = "3.0"; }; }; };
  fails = x: !(builtins.tryEval x).success;
in
{
  testNamesFromPyproject = { expr = demo.names; expected = [ "demo" "demo_minimal" ]; };
  testDefaultRelease = { expr = demo.default; expected = "demo"; };
  testProjectVersion = { expr = demo.version "demo"; expected = "0.1.0"; };
  testNoReleasesMeansOneNamedAfterTheProject = { expr = [ bare.names bare.default ]; expected = [ [ "api" ] "api" ]; };
  testReleaseVersionWins = { expr = two.version "b"; expected = "3.0"; };
  testNoDefaultAmongSeveral = { expr = fails two.default; expected = true; };
  testUnknownReleaseRefused = { expr = fails (demo.version "nope"); expected = true; };
}
