# A directory holding the files of `fetch-files.nix` by their names: the
# `--find-links` directory of `pyrelease build --offline`.
{ pkgs, files }:
pkgs.runCommand "pyrelease-find-links" { } (
  "mkdir -p $out\n"
  + builtins.concatStringsSep "" (map (f: "ln -s ${f.path} $out/${f.name}\n") files)
)
