# The lib.runTests shape without nixpkgs: { testName = { expr; expected; }; }
# -> the list of failing cases (empty when every test passes).
tests:
builtins.concatMap
  (name:
    let t = tests.${name}; in
    if t.expr == t.expected then [ ] else [{ inherit name; inherit (t) expected; result = t.expr; }])
  (builtins.attrNames tests)
