# lib.mkRelease: a project's release as a derivation, from its pyproject.toml and
# pyrelease.lock.json (written by `pyrelease nix-lock`).
#
#   pyrelease.lib.mkRelease {
#     pkgs = nixpkgs.legacyPackages.x86_64-linux;
#     src = ./.;               # a project with [tool.pyrelease] in pyproject.toml
#     release = "api";         # optional: the default release otherwise
#     lock = ./pyrelease.lock.json;  # optional: src + "/pyrelease.lock.json"
#   }
#
# Optional too: `triple` (default: the platform of `pkgs`), `subdir` (the project's
# folder inside `src`, when its local packages live beside it) and `closure`.
# The result is the release directory; `.tarball` is NAME-VSN.tar.xz (.tar.gz with the
# release's `tar_format = "gz"`), the bytes of `pyrelease build`'s tar step, and `.closure`
# the release that keeps its Python in the Nix store.
{ toolSrc, toolVersion }:
{ pkgs
, src
, release ? null
, subdir ? "."
, lock ? src + "/${subdir}/pyrelease.lock.json"
, triple ? import ./triple.nix pkgs.stdenv.hostPlatform
, closure ? false
}:
let
  pyproject = builtins.fromTOML (builtins.readFile (src + "/${subdir}/pyproject.toml"));
  releases = import ./releases.nix pyproject;
  name = if release == null then releases.default else release;
  locked = builtins.fromJSON (builtins.readFile lock);
  # Versions of the locked distributions, for `version = { from_dist = ... }`.
  target = locked.targets.${triple} or { files = [ ]; directories = [ ]; };
  dists = builtins.listToAttrs (map (d: { name = d.name; value = d.version; })
    ((target.directories or [ ]) ++ target.files));
  version = releases.versionWith dists name;
  python = import ./runtime.nix { inherit pkgs triple; pythonVersion = locked.python; };
  pyrelease = import ./pyrelease.nix { inherit pkgs python; src = toolSrc; version = toolVersion; };
  files = import ./fetch-files.nix { inherit pkgs triple; lock = locked; src = src + "/${subdir}"; };
  findLinks = import ./find-links.nix { inherit pkgs files; };
  build = closure: import ./release.nix {
    inherit pkgs pyrelease python src subdir version triple findLinks closure;
    release = name;
  };
  built = build closure;
in
built // {
  tarball = import ./tarball.nix {
    inherit pkgs pyrelease;
    release = built;
    fileName = "${name}-${version}.tar.${releases.tarFormat name}";
  };
  closure = build true;
  inherit pyrelease python;
}
