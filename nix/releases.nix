# The releases of a project, from its parsed pyproject.toml (builtins.fromTOML):
#   { names = [ "demo" "demo_minimal" ]; default = "demo"; version = name: "0.1.0";
#     versionWith = dists: name: "0.1.0"; tarFormat = name: "xz"; }
# `default` follows `pyrelease build`: default_release, else the only release,
# else one named after the project. The root of a uv workspace may have no
# [project] (a virtual root): its releases then need their own `version`, or
# `version = { from_dist = "NAME" }`, which `versionWith` looks up in `dists`
# (distribution name -> version, e.g. from pyrelease.lock.json). `tarFormat` is
# the release's `tar_format` ("xz" unless it says "gz"), as the `tar` step reads it.
pyproject:
let
  project = pyproject.project or (throw "pyrelease: pyproject.toml has no [project] table and no [tool.pyrelease.releases]");
  settings = pyproject.tool.pyrelease or { };
  tables = settings.releases or { };
  names = if tables == { } then [ project.name ] else builtins.attrNames tables;
  default =
    if settings ? default_release then settings.default_release
    else if builtins.length names == 1 then builtins.head names
    else throw "pyrelease: several releases (${builtins.concatStringsSep ", " names}) and no default_release: pass `release`";
  canonical = name: builtins.replaceStrings [ "_" "." ] [ "-" "-" ] (lower name);
  lower = s: builtins.replaceStrings
    [ "A" "B" "C" "D" "E" "F" "G" "H" "I" "J" "K" "L" "M" "N" "O" "P" "Q" "R" "S" "T" "U" "V" "W" "X" "Y" "Z" ]
    [ "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l" "m" "n" "o" "p" "q" "r" "s" "t" "u" "v" "w" "x" "y" "z" ]
    s;
  versionWith = dists: name:
    let
      table = tables.${name} or { };
      v = if builtins.isAttrs table then table.version or null else null;
      dist = canonical v.from_dist;
    in
    if !(builtins.elem name names) then
      throw "pyrelease: no release '${name}' in pyproject.toml; the releases are: ${builtins.concatStringsSep ", " names}"
    else if builtins.isString v then v
    else if builtins.isAttrs v && v ? from_dist then
      dists.${dist} or (throw "pyrelease: release '${name}' takes its version from '${v.from_dist}', which pyrelease.lock.json does not list; run `pyrelease nix-lock` again")
    else if pyproject ? project then project.version
    else throw "pyrelease: release '${name}' has no version and pyproject.toml has no [project]: set `version` in [tool.pyrelease.releases.${name}]";
  tarFormat = name:
    let table = tables.${name} or { }; in
    if builtins.isAttrs table then table.tar_format or "xz" else "xz";
in
{
  inherit names default versionWith tarFormat;
  version = versionWith { };
}
