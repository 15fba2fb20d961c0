#!/usr/bin/env python3
"""Checks that the modules of src/ depend on each other one way (no cycle).

Reads every `crate::` and `super::` path in the non-test code of each file under src/
(comments and `#[cfg(test)] mod tests` blocks left out; names the crate root re-exports
are followed to the module that defines them) and builds two graphs:

  * top-level modules (`src/x.rs` or `src/x/`): an edge a -> b when code in a names b;
  * inside each directory module, its files: an edge when one names another
    (an edge to the directory's own mod.rs, which only declares and re-exports, is left
    out).

Prints the top-level modules in layer order (each depends only on those above it)
and exits non-zero, naming the cycle, if either graph has one.

Usage: python3 scripts/check_layers.py [--quiet]
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")


def strip(code):
    """Code without comments, string literals and trailing test modules."""
    code = re.sub(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{.*", "", code, flags=re.S)
    code = re.sub(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*;", "", code)
    code = re.sub(r"/\*.*?\*/", "", code, flags=re.S)
    code = re.sub(r"//[^\n]*", "", code)
    code = re.sub(r'r#*"(?:.|\n)*?"#*', '""', code)
    code = re.sub(r'"(?:[^"\\]|\\.)*"', '""', code)
    return code


def module_of(path):
    """`src/a/b.rs` -> ["a", "b"]; `src/a/mod.rs` -> ["a"]; `src/lib.rs` -> []."""
    rel = os.path.relpath(path, ROOT)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib"):
        rel = rel[:-1]
    return rel


def files():
    for d, _, names in os.walk(ROOT):
        for n in sorted(names):
            if n.endswith(".rs"):
                yield os.path.join(d, n)


def root_exports(lib):
    """Names re-exported at the crate root -> the module path they come from."""
    out = {}
    for m in re.finditer(r"pub use crate::([\w:]+)::(\{[^}]*\}|\w+);", strip(lib)):
        names = m.group(2).strip("{}").split(",")
        for n in names:
            n = n.strip().split(" as ")[-1].strip()
            if n:
                out[n] = m.group(1).split("::")
    return out


def expand_groups(code):
    """`crate::a::{b, c::d}` -> `crate::a::b crate::a::c::d` (one level of braces)."""
    def repl(m):
        base = m.group(1)
        return " ".join(base + "::" + p.strip() for p in m.group(2).split(",") if p.strip())
    prev = None
    while prev != code:
        prev = code
        code = re.sub(r"((?:crate|super)(?:::\w+)*)::\{([^{}]*)\}", repl, code)
    return code


def main():
    modules = {tuple(module_of(p)): p for p in files()}
    exports = root_exports(open(os.path.join(ROOT, "lib.rs")).read())

    def resolve(path):
        """The longest prefix of `path` that is a module file."""
        if len(path) == 1 and path[0] in exports:
            path = exports[path[0]]
        for n in range(len(path), 0, -1):
            if tuple(path[:n]) in modules:
                return tuple(path[:n])
        return None

    edges = set()
    for mod, path in modules.items():
        if not mod:
            continue  # the crate root re-exports everything
        code = expand_groups(strip(open(path).read()))
        is_dir = path.endswith("mod.rs")
        parent = list(mod) if is_dir else list(mod[:-1])
        for m in re.finditer(r"\b(crate|super|self)((?:::\w+)+)", code):
            parts = m.group(2).split("::")[1:]
            if m.group(1) == "crate":
                target = resolve(parts)
            elif m.group(1) == "super":
                base = parent[:-1] if is_dir else parent
                target = resolve(base + parts)
            else:
                target = resolve((list(mod) if is_dir else parent) + parts)
            if target and target != mod:
                edges.add((mod, target))

    def find_cycle(nodes, graph):
        state, stack = {}, []

        def visit(n):
            state[n] = 1
            stack.append(n)
            for m in sorted(graph.get(n, ())):
                if state.get(m) == 1:
                    return stack[stack.index(m):] + [m]
                if m not in state:
                    c = visit(m)
                    if c:
                        return c
            state[n] = 2
            stack.pop()
            return None

        for n in sorted(nodes):
            if n not in state:
                c = visit(n)
                if c:
                    return c
        return None

    failed = False
    # Top level.
    top = {}
    for a, b in edges:
        if a[0] != b[0]:
            top.setdefault(a[0], set()).add(b[0])
    names = {m[0] for m in modules if m}
    cycle = find_cycle(names, top)
    if cycle:
        print("cycle among top-level modules: " + " -> ".join(cycle))
        failed = True
    # Inside each directory module.
    for d in sorted({m[0] for m in modules if len(m) > 1}):
        inner = {}
        for a, b in edges:
            if a[0] == d and b[0] == d and len(b) > 1 and len(a) > 1:
                inner.setdefault(a, set()).add(b)
        cycle = find_cycle({m for m in modules if m and m[0] == d and len(m) > 1}, inner)
        if cycle:
            print(f"cycle inside {d}/: " + " -> ".join("::".join(c) for c in cycle))
            failed = True
    if failed:
        return 1
    if "--quiet" not in sys.argv:
        # Layers: a module's layer is one more than the highest layer it depends on.
        layer = {}

        def depth(n):
            if n not in layer:
                layer[n] = 0
                layer[n] = 1 + max((depth(m) for m in top.get(n, ())), default=-1)
            return layer[n]

        for n in names:
            depth(n)
        for lvl in range(max(layer.values()) + 1):
            row = sorted(n for n in names if layer[n] == lvl)
            print(f"layer {lvl}: " + ", ".join(row))
        print("no cycle among src/ modules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
