# NAME-VSN.tar.xz (or .tar.gz: `fileName`'s suffix decides) of a built release, packed
# as pyrelease's `tar` step packs it (the same function, the same SOURCE_DATE_EPOCH):
# the output is the file itself.
{ pkgs, pyrelease, release, fileName }:
pkgs.runCommand fileName { SOURCE_DATE_EPOCH = "315532800"; } ''
  ${pyrelease}/bin/pyrelease-tar ${release} $TMPDIR/${fileName}
  mv $TMPDIR/${fileName} $out
''
