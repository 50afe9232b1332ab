# pyrelease itself: its sources run by `python` with nixpkgs' packages of its
# dependencies (and setuptools/wheel, the build backends `build --offline` uses
# for local packages). bin/pyrelease-tar packs a release exactly as the `tar` step.
{ pkgs, python, src, version }:
let
  env = python.withPackages (ps: [
    ps.click
    ps.jinja2
    ps.packaging
    ps.installer
    ps.pip
    ps.setuptools
    ps.wheel
  ]);
in
pkgs.runCommand "pyrelease-${version}" { } ''
  mkdir -p $out/bin $out/lib
  cp -r ${src} $out/lib/pyrelease
  chmod -R u+w $out/lib/pyrelease
  printf '%s\n' '#!${env}/bin/python3' 'import sys' "sys.path.insert(0, '$out/lib')" \
    'from pyrelease.cli import main' 'main()' > $out/bin/pyrelease
  printf '%s\n' '#!${env}/bin/python3' 'import sys' "sys.path.insert(0, '$out/lib')" \
    'from pathlib import Path' 'from pyrelease.assemble.tarball import write_tarball' \
    'write_tarball(Path(sys.argv[1]), Path(sys.argv[2]))' > $out/bin/pyrelease-tar
  chmod 755 $out/bin/pyrelease $out/bin/pyrelease-tar
''
