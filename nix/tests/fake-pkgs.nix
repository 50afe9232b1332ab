# A nixpkgs stand-in for unit tests: every builder returns its arguments, so a
# test can look at what a function asked for without building anything.
{ system ? "x86_64-linux", isMusl ? false }:
let
  python = tag: {
    inherit tag;
    withPackages = f: { outPath = "/env-${tag}"; packages = f {
      click = "click"; installer = "installer"; jinja2 = "jinja2"; packaging = "packaging";
      pip = "pip"; setuptools = "setuptools"; wheel = "wheel";
    }; };
    outPath = "/python-${tag}";
  };
in
{
  stdenv.hostPlatform = { inherit system isMusl; };
  stdenv.mkDerivation = args: args // { builder = "mkDerivation"; };
  runCommand = name: env: cmd: env // { inherit name cmd; outPath = "/run-${name}"; };
  fetchurl = args: args // { fetched = true; };
  patchelf = "patchelf";
  python3 = python "3";
  python311 = python "gnu-311";
  python312 = python "gnu-312";
  pkgsMusl.python311 = python "musl-311";
  pkgsCross.aarch64-multiplatform.python311 = python "cross-aarch64-gnu-311";
  pkgsCross.musl64.python311 = python "cross-x86_64-musl-311";
}
