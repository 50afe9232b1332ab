# Every nixpkgs attribute that nix/ and flake.nix use. The stub nixpkgs of the
# tests (tests/nix/stub-nixpkgs) implements exactly these, and a test checks that
# nothing else is used. `pythonXY` stands for python311, python312, ...
{
  pkgs = [
    "fetchurl"
    "mkShell"
    "nixfmt"
    "patchelf"
    "pkgsCross"
    "pkgsMusl"
    "python3"
    "pythonXY"
    "runCommand"
    "stdenv.hostPlatform"
    "stdenv.mkDerivation"
  ];
  python = [ "withPackages" ];
  pythonPackages = [ "click" "installer" "jinja2" "packaging" "pip" "setuptools" "wheel" ];
  hostPlatform = [ "isMusl" "system" ];
  pkgsCross = [ "aarch64-multiplatform" "aarch64-multiplatform-musl" "gnu64" "musl64" ];
}
