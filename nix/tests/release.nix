let
  release = import ../release.nix;
  pkgs = import ./fake-pkgs.nix { };
  args = {
    inherit pkgs;
    pyrelease = "/tool"; python = "/python"; src = "/src"; subdir = "demo";
    release = "demo"; version = "0.1.0"; triple = "x86_64-unknown-linux-gnu"; findLinks = "/links";
  };
  drv = release args;
  closure = release (args // { closure = true; });
  has = s: d: builtins.match ".*${s}.*" (builtins.replaceStrings [ "\n" ] [ " " ] d.buildCommand) != null;
in
{
  testNamedAfterTheRelease = { expr = [ drv.name closure.name ]; expected = [ "demo-0.1.0" "demo-0.1.0-closure" ]; };
  testBuildsOfflineForTheTarget = {
    expr = map (s: has s drv) [
      "build demo --offline --find-links /links"
      "--target x86_64-unknown-linux-gnu"
      "--include-runtime /python"
      "cd [$]TMPDIR/src/demo"
    ];
    expected = [ true true true true ];
  };
  testFixedTime = { expr = drv.SOURCE_DATE_EPOCH; expected = "315532800"; };
  testClosureKeepsThePythonOfTheStore = {
    expr = [ (has "--include-runtime false" closure) (has "PATH=/python/bin" closure) (has "PATH=/python/bin" drv) ];
    expected = [ true true false ];
  };
}
