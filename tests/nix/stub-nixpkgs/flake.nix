{
  # A stub of nixpkgs for building pyrelease's flake with no binary cache and no
  # network: the same output names as nixpkgs (`lib`, `legacyPackages.SYSTEM`),
  # implementing only the attributes listed in nix/surface.nix, built with the
  # host's tools (/bin/sh, /usr/bin/python3.11 with Debian's python3-click,
  # -jinja2, -packaging, -installer, -pip, -setuptools, -wheel; gcc; patchelf).
  #
  #   nix build .#release-demo --offline --override-input nixpkgs path:./tests/nix/stub-nixpkgs
  #
  # Builds need the host's tools inside the sandbox:
  #   --option extra-sandbox-paths "/bin /usr /lib /lib64 /etc/alternatives"
  # fetchurl downloads nothing: its files must already be in the store
  # (`nix-store --add-fixed sha256 FILE`).
  description = "offline stand-in for nixpkgs (pyrelease tests)";

  outputs = { self }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
      hostPath = "/usr/bin:/bin";

      mkPkgs = system: isMusl:
        let
          mkDerivation = attrs:
            let
              inputs = (attrs.nativeBuildInputs or [ ]) ++ (attrs.buildInputs or [ ]);
              path = builtins.concatStringsSep ":" (map (p: "${p}/bin") inputs ++ [ hostPath ]);
              env = removeAttrs attrs [ "nativeBuildInputs" "buildInputs" "packages" ];
            in
            derivation (env // {
              inherit system;
              builder = "/bin/sh";
              args = [ "-c" "set -e; cd \"$TMPDIR\"; eval \"$buildCommand\"" ];
              PATH = path;
            });

          runCommand = name: env: buildCommand:
            mkDerivation (env // { inherit name buildCommand; });

          hostTool = name: target:
            runCommand "${name}-host" { } "mkdir -p $out/bin; ln -s ${target} $out/bin/${name}";

          # Debian's packages on the host stand for nixpkgs' python3Packages.
          pythonPackages = builtins.listToAttrs (map (n: { name = n; value = "host-${n}"; })
            [ "click" "installer" "jinja2" "packaging" "pip" "setuptools" "wheel" ]);

          python311 = runCommand "python3.11-host" { } ''
            mkdir -p $out/bin
            ln -s /usr/bin/python3.11 $out/bin/python3
            ln -s /usr/bin/python3.11 $out/bin/python3.11
          '' // {
            # The packages asked for must exist; the host's python has them all.
            withPackages = f: builtins.seq (builtins.deepSeq (f pythonPackages) null) python311;
          };
        in
        {
          stdenv = {
            hostPlatform = { inherit system isMusl; };
            inherit mkDerivation;
          };
          inherit runCommand;
          fetchurl = { name, url, sha256 }: derivation {
            inherit name system url;
            builder = "/bin/sh";
            args = [ "-c" "echo \"stub nixpkgs: no download of $url (add the file with nix-store --add-fixed)\" >&2; exit 1" ];
            outputHashMode = "flat";
            outputHashAlgo = "sha256";
            outputHash = sha256;
          };
          patchelf = hostTool "patchelf" "/usr/bin/patchelf";
          nixfmt = runCommand "nixfmt-stub" { } ''
            mkdir -p $out/bin
            printf '%s\n' '#!/bin/sh' 'echo "the stub nixpkgs has no nixfmt" >&2' 'exit 1' > $out/bin/nixfmt
            chmod +x $out/bin/nixfmt
          '';
          mkShell = attrs: mkDerivation ({
            name = "shell";
            buildCommand = "echo 'a development shell, nothing to build' > $out";
          } // removeAttrs attrs [ "packages" ]);
          python3 = python311;
          inherit python311;
        } // (if isMusl then { } else {
          pkgsMusl = mkPkgs system true;
          pkgsCross = {
            aarch64-multiplatform = mkPkgs "aarch64-linux" false;
            aarch64-multiplatform-musl = mkPkgs "aarch64-linux" true;
            gnu64 = mkPkgs "x86_64-linux" false;
            musl64 = mkPkgs "x86_64-linux" true;
          };
        });
    in
    {
      lib = { };
      legacyPackages = builtins.listToAttrs (map (system: {
        name = system;
        value = mkPkgs system false;
      }) systems);
    };
}
