# The target triple of a nixpkgs platform (`pkgs.stdenv.hostPlatform`):
#   { system = "x86_64-linux"; isMusl = false; }  ->  "x86_64-unknown-linux-gnu"
# Triples are the names `pyrelease nix-lock` writes in pyrelease.lock.json.
platform:
let
  parts = builtins.match "([^-]+)-(linux|darwin)" platform.system;
  arch = builtins.elemAt parts 0;
  kernel = builtins.elemAt parts 1;
in
if parts == null then
  throw "pyrelease: no target triple for the Nix system '${platform.system}' (Linux and macOS only)"
else if kernel == "darwin" then
  "${arch}-apple-darwin"
else
  "${arch}-unknown-linux-${if platform.isMusl or false then "musl" else "gnu"}"
