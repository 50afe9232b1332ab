let
  triple = import ../triple.nix;
  fails = x: !(builtins.tryEval x).success;
in
{
  testGnu = { expr = triple { system = "x86_64-linux"; isMusl = false; }; expected = "x86_64-unknown-linux-gnu"; };
  testMusl = { expr = triple { system = "aarch64-linux"; isMusl = true; }; expected = "aarch64-unknown-linux-musl"; };
  testDarwin = { expr = triple { system = "aarch64-darwin"; }; expected = "aarch64-apple-darwin"; };
  testOtherKernelRefused = { expr = fails (triple { system = "x86_64-freebsd"; }); expected = true; };
}
