# One release, built by `pyrelease build --offline` inside the derivation: no
# network, the pinned `python` bundled (include_runtime), the lock's files from
# `findLinks`, SOURCE_DATE_EPOCH fixed. `src` is copied writable and the project
# is `src/subdir`. With `closure = true` the release keeps using `python` from the
# store instead of bundling it (for hosts that have Nix).
{ pkgs, pyrelease, python, src, subdir ? ".", release, version, triple, findLinks, closure ? false }:
pkgs.stdenv.mkDerivation {
  name = "${release}-${version}${if closure then "-closure" else ""}";
  nativeBuildInputs = [ pkgs.patchelf ];
  # 1980-01-01, the oldest time a zip file (and so a wheel) can record.
  SOURCE_DATE_EPOCH = "315532800";
  buildCommand = ''
    export HOME=$TMPDIR/home PYTHONHASHSEED=0
    cp -r --no-preserve=mode ${src} $TMPDIR/src
    cd $TMPDIR/src/${subdir}
    ${pyrelease}/bin/pyrelease build ${release} --offline --find-links ${findLinks} \
      --target ${triple} --include-runtime ${if closure then "false" else "${python}"} \
      --path $TMPDIR/release --overwrite
    ${if closure then ''
      printf '%s\n' 'PATH=${python}/bin:$PATH; export PATH' \
        >> $TMPDIR/release/releases/${version}/env.sh
    '' else ""}
    mv $TMPDIR/release $out
  '';
}
