# The CPython a release for `triple` runs on: nixpkgs' `pythonXY` for that platform.
#   gnu, same machine as the builder  ->  pkgs.python311
#   musl                              ->  pkgs.pkgsMusl.python311
#   another Linux machine             ->  pkgs.pkgsCross.<crossSystem>.python311
# `pythonVersion` is "X.Y" (the `python` of pyrelease.lock.json).
{ pkgs, triple, pythonVersion }:
let
  parts = builtins.match "([^-]+)-([^-]+)-([^-]+)(-([^-]+))?" triple;
  arch = builtins.elemAt parts 0;
  os = builtins.elemAt parts 2;
  libc = builtins.elemAt parts 4;
  here = builtins.head (builtins.split "-" pkgs.stdenv.hostPlatform.system);
  # nixpkgs' names for cross package sets (lib/systems/examples.nix).
  cross = {
    "aarch64-gnu" = "aarch64-multiplatform";
    "aarch64-musl" = "aarch64-multiplatform-musl";
    "x86_64-gnu" = "gnu64";
    "x86_64-musl" = "musl64";
  };
  crossName = cross."${arch}-${libc}" or (throw
    "pyrelease: no nixpkgs cross package set for the target triple '${triple}'");
  set =
    if parts == null then
      throw "pyrelease: '${triple}' is not a target triple like x86_64-unknown-linux-gnu"
    else if os == "darwin" && arch != here then
      throw "pyrelease: build ${triple} on a ${arch}-darwin machine (nixpkgs does not cross-build macOS)"
    else if os == "darwin" || arch == here then
      (if libc == "musl" then pkgs.pkgsMusl else pkgs)
    else if os == "linux" then
      pkgs.pkgsCross.${crossName}
    else
      throw "pyrelease: unsupported target triple '${triple}'";
  attr = "python" + builtins.replaceStrings [ "." ] [ "" ] pythonVersion;
in
set.${attr} or (throw
  "pyrelease: nixpkgs has no ${attr} for ${triple} (the lock asks for Python ${pythonVersion}); re-lock with `pyrelease nix-lock --python-version` for a Python nixpkgs has")
