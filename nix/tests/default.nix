# Every unit test of nix/: `nix eval --json -f nix/tests` prints the failing
# cases ([] when all pass). One file per function, as in nix/.
let
  run = import ./run.nix;
  files = [ "triple" "runtime" "fetch-files" "find-links" "releases" "release" "tarball" "pyrelease" "mk-release" ];
in
builtins.concatMap (f: map (t: t // { file = f; }) (run (import (./. + "/${f}.nix")))) files
