# The files one target installs, from pyrelease.lock.json: one fixed-output
# derivation per file, named exactly as the file (so `installer` sees the real
# wheel name, and a file added with `nix-store --add-fixed sha256 FILE` satisfies
# it offline). A file the lock names by `path` (kept in the project) is taken
# from `src` and checked against the same sha256.
{ pkgs, lock, triple, src }:
let
  target = lock.targets.${triple} or (throw
    "pyrelease: ${toString (lock.source or "the lock")} has no target ${triple} in pyrelease.lock.json; run `pyrelease nix-lock --target ${triple}`");
  fetch = file:
    if file ? url then
      pkgs.fetchurl { name = file.filename; url = file.url; sha256 = file.sha256; }
    else
      builtins.path {
        name = file.filename;
        path = src + "/${file.path}";
        recursive = false;
        sha256 = file.sha256;
      };
in
map (file: { name = file.filename; path = fetch file; }) target.files
