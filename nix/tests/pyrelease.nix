let
  pyrelease = import ../pyrelease.nix;
  pkgs = import ./fake-pkgs.nix { };
  tool = pyrelease { inherit pkgs; python = pkgs.python311; src = "/src"; version = "0.1.0"; };
in
{
  testNamedWithItsVersion = { expr = tool.name; expected = "pyrelease-0.1.0"; };
  testRunsOnThePythonWithItsDependencies = {
    expr = builtins.match ".*#!.*/bin/python3.*from pyrelease.cli import main.*" (builtins.replaceStrings [ "\n" ] [ " " ] tool.cmd) != null;
    expected = true;
  };
  testTarFormatFromTheFileName = {
    expr = builtins.match ".*dest.name.endswith[(].[.]gz.[)].*" (builtins.replaceStrings [ "\n" ] [ " " ] tool.cmd) != null;
    expected = true;
  };
}
