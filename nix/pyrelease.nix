# pyrelease itself: its sources run by `python` with nixpkgs' packages of its
# dependencies (and setuptools/wheel, the build backends `build --offline` uses
# for local packages). `bin/pyrelease-tar RELEASE DEST.tar.xz|.tar.gz` packs a release
# exactly as the `tar` step (the format from DEST's suffix);
# bin/release-deploy is the server-side tool (S3 signing is imported only for s3://).
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
    ps.requests
    ps.requests-aws4auth
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
    'dest = Path(sys.argv[2])' \
    'write_tarball(Path(sys.argv[1]), dest, "gz" if dest.name.endswith(".gz") else "xz")' \
    > $out/bin/pyrelease-tar
  printf '%s\n' '#!${env}/bin/python3' 'import sys' "sys.path.insert(0, '$out/lib')" \
    'from pyrelease.deploy.cli import run' 'run()' > $out/bin/release-deploy
  chmod 755 $out/bin/pyrelease $out/bin/pyrelease-tar $out/bin/release-deploy
''
