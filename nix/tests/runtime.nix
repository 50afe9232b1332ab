let
  runtime = import ../runtime.nix;
  pkgs = import ./fake-pkgs.nix { };
  tag = triple: v: (runtime { inherit pkgs triple; pythonVersion = v; }).tag;
  fails = x: !(builtins.tryEval x).success;
in
{
  testNativeGnu = { expr = tag "x86_64-unknown-linux-gnu" "3.11"; expected = "gnu-311"; };
  testVersionPicksTheAttribute = { expr = tag "x86_64-unknown-linux-gnu" "3.12"; expected = "gnu-312"; };
  testMuslUsesPkgsMusl = { expr = tag "x86_64-unknown-linux-musl" "3.11"; expected = "musl-311"; };
  testOtherArchUsesPkgsCross = { expr = tag "aarch64-unknown-linux-gnu" "3.11"; expected = "cross-aarch64-gnu-311"; };
  testMissingPythonRefused = { expr = fails (tag "x86_64-unknown-linux-gnu" "3.9"); expected = true; };
  testBadTripleRefused = { expr = fails (tag "linux" "3.11"); expected = true; };
  testDarwinCrossRefused = {
    expr = fails (runtime { pkgs = import ./fake-pkgs.nix { system = "x86_64-darwin"; }; triple = "aarch64-apple-darwin"; pythonVersion = "3.11"; });
    expected = true;
  };
}
