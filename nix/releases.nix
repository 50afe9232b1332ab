# The releases of a project, from its parsed pyproject.toml (builtins.fromTOML):
#   { names = [ "demo" "demo_minimal" ]; default = "demo"; version = name: "0.1.0"; }
# `default` follows `pyrelease build`: default_release, else the only release,
# else one named after the project.
pyproject:
let
  project = pyproject.project or (throw "pyrelease: pyproject.toml has no [project] table");
  settings = pyproject.tool.pyrelease or { };
  tables = settings.releases or { };
  names = if tables == { } then [ project.name ] else builtins.attrNames tables;
  default =
    if settings ? default_release then settings.default_release
    else if builtins.length names == 1 then builtins.head names
    else throw "pyrelease: several releases (${builtins.concatStringsSep ", " names}) and no default_release: pass `release`";
  version = name:
    let table = tables.${name} or { }; in
    if !(builtins.elem name names) then
      throw "pyrelease: no release '${name}' in pyproject.toml; the releases are: ${builtins.concatStringsSep ", " names}"
    else if builtins.isAttrs table && builtins.isString (table.version or null) then table.version
    else project.version;
in
{ inherit names default version; }
