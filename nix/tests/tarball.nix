let
  tarball = import ../tarball.nix;
  pkgs = import ./fake-pkgs.nix { };
  t = tarball { inherit pkgs; pyrelease = "/tool"; release = "/rel"; fileName = "demo-0.1.0.tar.gz"; };
in
{
  testTheOutputIsTheFile = { expr = t.name; expected = "demo-0.1.0.tar.gz"; };
  testPackedByTheTarStep = { expr = builtins.match ".*/tool/bin/pyrelease-tar /rel .*" (builtins.replaceStrings [ "\n" ] [ " " ] t.cmd) != null; expected = true; };
  testSameTimeAsTheRelease = { expr = t.SOURCE_DATE_EPOCH; expected = "315532800"; };
}
