let
  findLinks = import ../find-links.nix;
  pkgs = import ./fake-pkgs.nix { };
  dir = findLinks { inherit pkgs; files = [ { name = "a-1.0-py3-none-any.whl"; path = "/store/x-a-1.0-py3-none-any.whl"; } ]; };
in
{
  testLinksEveryFileByName = {
    expr = dir.cmd;
    expected = "mkdir -p $out\nln -s /store/x-a-1.0-py3-none-any.whl $out/a-1.0-py3-none-any.whl\n";
  };
}
