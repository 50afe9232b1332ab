let
  releases = import ../releases.nix;
  demo = releases (builtins.fromTOML (builtins.readFile ../../examples/demo/pyproject.toml));
  bare = releases { project = { name = "api"; version = "2.0"; }; };
  two = releases { project = { name = "api"; version = "2.0"; }; tool.pyrelease.releases = { a = { }; b = { version = "3.0"; tar_format = "gz"; }; }; };
  virtual = releases {
    tool.pyrelease.releases = { web_only = { version = { from_dist = "Web_App"; }; }; all = { version = "1.0.0"; }; bad = { }; };
  };
  fails = x: !(builtins.tryEval x).success;
in
{
  testNamesFromPyproject = { expr = demo.names; expected = [ "demo" "demo_minimal" ]; };
  testDefaultRelease = { expr = demo.default; expected = "demo"; };
  testProjectVersion = { expr = demo.version "demo"; expected = "0.1.0"; };
  testNoReleasesMeansOneNamedAfterTheProject = { expr = [ bare.names bare.default ]; expected = [ [ "api" ] "api" ]; };
  testReleaseVersionWins = { expr = two.version "b"; expected = "3.0"; };
  testNoDefaultAmongSeveral = { expr = fails two.default; expected = true; };
  testVirtualRootVersionFromADist = { expr = virtual.versionWith { web-app = "0.3.0"; } "web_only"; expected = "0.3.0"; };
  testVirtualRootOwnVersion = { expr = virtual.version "all"; expected = "1.0.0"; };
  testVirtualRootUnlistedDistRefused = { expr = fails (virtual.version "web_only"); expected = true; };
  testVirtualRootNoVersionRefused = { expr = fails (virtual.version "bad"); expected = true; };
  testTarFormatDefaultsToXz = { expr = [ (demo.tarFormat "demo") (two.tarFormat "a") ]; expected = [ "xz" "xz" ]; };
  testTarFormatOfTheRelease = { expr = two.tarFormat "b"; expected = "gz"; };
  testUnknownReleaseRefused = { expr = fails (demo.version "nope"); expected = true; };
}
