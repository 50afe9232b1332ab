{
  description = "pyrelease: self-contained, reproducible releases of Python services";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
      forAll = f: builtins.listToAttrs (map (system: {
        name = system;
        value = f system nixpkgs.legacyPackages.${system};
      }) systems);
      toolVersion = (builtins.fromTOML (builtins.readFile ./pyproject.toml)).project.version;
      mkRelease = import ./nix/mk-release.nix { toolSrc = ./src/pyrelease; inherit toolVersion; };

      # The example built here: examples/demo, whose distributions (the demo, its C
      # extension demo-speedups, demo-extra) all have their sources in this repository.
      example = { src = ./examples/demo; };
      exampleReleases = import ./nix/releases.nix
        (builtins.fromTOML (builtins.readFile ./examples/demo/pyproject.toml));
      exampleLock = builtins.fromJSON (builtins.readFile ./examples/demo/pyrelease.lock.json);
      darwin = system: builtins.match ".*-darwin" system != null;
      defaultTriple = pkgs: import ./nix/triple.nix pkgs.stdenv.hostPlatform;

      releasesFor = system: pkgs:
        let
          # Other triples of the lock that this system builds natively (musl).
          extraTriples = builtins.filter
            (t: exampleLock.targets.${t}.system == system && t != defaultTriple pkgs)
            (builtins.attrNames exampleLock.targets);
          one = name: triple: mkRelease (example // { inherit pkgs triple; release = name; });
          perRelease = name:
            let r = one name (defaultTriple pkgs); in
            [
              { name = "release-${name}"; value = r; }
              { name = "release-${name}-tarball"; value = r.tarball; }
              { name = "release-${name}-closure"; value = r.closure; }
            ]
            ++ map (t: { name = "release-${name}-${t}"; value = one name t; }) extraTriples;
        in
        builtins.listToAttrs (builtins.concatMap perRelease exampleReleases.names);

      unitTests = import ./nix/tests;
    in
    {
      lib = { inherit mkRelease; };

      packages = forAll (system: pkgs:
        let
          pyrelease = import ./nix/pyrelease.nix {
            inherit pkgs;
            version = toolVersion;
            python = pkgs.python3;
            src = ./src/pyrelease;
          };
        in
        releasesFor system pkgs // { inherit pyrelease; default = pyrelease; });

      apps = forAll (system: pkgs: {
        pyrelease = {
          type = "app";
          program = "${self.packages.${system}.pyrelease}/bin/pyrelease";
        };
        release-deploy = {
          type = "app";
          program = "${self.packages.${system}.pyrelease}/bin/release-deploy";
        };
      });

      devShells = forAll (system: pkgs: {
        default = pkgs.mkShell {
          packages = [ self.packages.${system}.pyrelease pkgs.patchelf ];
        };
      });

      checks = forAll (system: pkgs: {
        nix-unit-tests = pkgs.runCommand "pyrelease-nix-unit-tests" { } (
          if unitTests == [ ] then "touch $out"
          else throw "pyrelease: Nix unit tests failed: ${builtins.toJSON unitTests}"
        );
        # macOS: the runtime is not bundled there yet, the closure variant runs.
        release-demo-version = pkgs.runCommand "release-demo-version" { } ''
          ${self.packages.${system}.${if darwin system then "release-demo-closure" else "release-demo"}}/bin/demo version > $out
          grep -q '^demo 0.1.0' $out
        '';
      });

      formatter = forAll (system: pkgs: pkgs.nixfmt);
    };
}
