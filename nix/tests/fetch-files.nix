let
  fetchFiles = import ../fetch-files.nix;
  pkgs = import ./fake-pkgs.nix { };
  sha = "d67c72796d57e8784e8478d7b233829b0006f9c8fb4b800a2d97f3782067ab4a";
  lock = {
    source = "uv.lock";
    targets."x86_64-unknown-linux-gnu".files = [
      { name = "fast"; filename = "fast-2.0-cp311-cp311-manylinux_2_17_x86_64.whl"; url = "https://example.invalid/f.whl"; sha256 = "aa"; }
      { name = "kept"; filename = "kept-1.0-py3-none-any.whl"; path = "fixtures/kept-1.0-py3-none-any.whl"; sha256 = sha; }
    ];
  };
  files = fetchFiles { inherit pkgs lock; triple = "x86_64-unknown-linux-gnu"; src = ./.; };
  fails = x: !(builtins.tryEval x).success;
in
{
  testOneDownloadPerFileNamedAsTheFile = {
    expr = builtins.head files;
    expected = {
      name = "fast-2.0-cp311-cp311-manylinux_2_17_x86_64.whl";
      path = { name = "fast-2.0-cp311-cp311-manylinux_2_17_x86_64.whl"; url = "https://example.invalid/f.whl"; sha256 = "aa"; fetched = true; };
    };
  };
  testAFileKeptInTheProjectIsHashChecked = {
    # (a wrong sha256 stops the evaluation with "store path mismatch")
    expr = builtins.match "/nix/store/[a-z0-9]{32}-kept-1.0-py3-none-any.whl" (toString (builtins.elemAt files 1).path) != null;
    expected = true;
  };
  testAMissingTargetIsRefused = {
    expr = fails (fetchFiles { inherit pkgs lock; triple = "aarch64-apple-darwin"; src = ./.; });
    expected = true;
  };
}
