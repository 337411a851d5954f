#!/usr/bin/env python3
"""The shape of src/: the file-level module graph, file and function sizes.

    python3 scripts/layout.py          # the report: graph, largest files and functions
    python3 scripts/layout.py --check  # exit 1 on a cycle between files, a file over
                                       # FILE_LIMIT non-test lines or a function over
                                       # FN_LIMIT lines (DEVELOPERS.md, STYLE.md)

An edge A -> B means a path in A (`crate::x::y`, `super::z`) names an item defined in B.
Declarations and re-exports (`mod x;`, `pub(crate) use x::Y;`) are not edges: a folder's
mod.rs that re-exports its children does not depend on them, and a path through it is
followed to the file that defines the item.
"""

import os
import re
import sys

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
FILE_LIMIT = 450
FN_LIMIT = 80


def module_of(path):
    rel = os.path.relpath(path, SRC)[:-3].split(os.sep)
    if rel[-1] == "mod":
        rel = rel[:-1]
    if rel in (["lib"], ["main"]):
        return ()
    return tuple(rel)


def file_of(module):
    base = os.path.join(SRC, *module) if module else os.path.join(SRC, "lib")
    for cand in (base + ".rs", os.path.join(base, "mod.rs")):
        if os.path.isfile(cand):
            return cand
    return None


def strip_tests(text):
    """The text without `#[cfg(test)]` items (a test module, a test-only impl or fn)."""
    out, i = [], 0
    lines = text.split("\n")
    while i < len(lines):
        if lines[i].strip() == "#[cfg(test)]":
            j = i + 1
            # a one-line item (`mod tests;`, `use ...;`) or a braced block
            if lines[j].rstrip().endswith(";"):
                i = j + 1
                continue
            depth, started = 0, False
            while j < len(lines):
                depth += lines[j].count("{") - lines[j].count("}")
                started = started or "{" in lines[j]
                j += 1
                if started and depth <= 0:
                    break
            i = j
            continue
        out.append(lines[i])
        i += 1
    return "\n".join(out)


def code_lines(text):
    return [l for l in text.split("\n") if l.strip() and not l.strip().startswith("//")]


def functions(text):
    """(name, lines) of every fn body, by brace matching on non-test text."""
    found = []
    lines = text.split("\n")
    for i, line in enumerate(lines):
        m = re.match(r"\s*(pub(\([a-z]+\))? )?(const )?fn (\w+)", line)
        if not m:
            continue
        depth, started, j = 0, False, i
        while j < len(lines):
            depth += lines[j].count("{") - lines[j].count("}")
            if "{" in lines[j]:
                started = True
            if lines[j].rstrip().endswith(";") and not started:
                break
            if started and depth <= 0:
                found.append((m.group(4), j - i + 1))
                break
            j += 1
    return found


def reexports(path, text):
    """Names a file re-exports, mapped to the module that defines them."""
    names = {}
    mod = module_of(path)
    for m in re.finditer(r"^pub(?:\(crate\))? use ([\w:]+)::\{?([\w, ]+)\}?;", text, re.M):
        origin = m.group(1).split("::")
        if origin[0] == "crate":
            target = tuple(origin[1:])
        elif origin[0] == "super":
            target = mod[:-1] + tuple(origin[1:])
        else:
            target = mod + tuple(origin)
        for name in re.split(r"[ ,]+", m.group(2).strip()):
            if name and name != "self":
                names[name] = target
    return names


def main():
    files = []
    for root, _, names in os.walk(SRC):
        files += [os.path.join(root, n) for n in names if n.endswith(".rs")]
    texts = {f: open(f).read() for f in files}
    exports = {module_of(f): reexports(f, t) for f, t in texts.items()}

    def resolve(module, item):
        """The file that defines `item` reached as module::item."""
        seen = 0
        while item in exports.get(module, {}) and seen < 10:
            module, seen = exports[module][item], seen + 1
        return file_of(module)

    edges = {f: set() for f in files}
    for f, text in texts.items():
        mod = module_of(f)
        body = strip_tests(text)
        body = "\n".join(
            l for l in body.split("\n") if not re.match(r"\s*(pub(\(crate\)|\(super\))? )?(mod \w+;|use \w+::)", l)
            or l.strip().startswith("use crate::") or l.strip().startswith("use super::")
        )
        body = "\n".join(l for l in body.split("\n") if not re.match(r"\s*pub(\([a-z]+\))? use ", l))
        for m in re.finditer(r"\b(crate|super)((?:::\w+)+)(?:::\{([^}]*)\})?", body):
            parts = m.group(2).strip(":").split("::")
            base = () if m.group(1) == "crate" else mod[:-1]
            items = [i.strip().split(" ")[0].split("::")[0] for i in (m.group(3) or "").split(",") if i.strip()]
            # the longest prefix that is a module
            path = list(base)
            for k, p in enumerate(parts):
                if file_of(tuple(path + [p])):
                    path.append(p)
                else:
                    items = items or [p]
                    break
            if not items:
                items = ["self"]
            for item in items:
                if item == "self":
                    target = file_of(tuple(path))
                elif file_of(tuple(path + [item])):
                    target = file_of(tuple(path + [item]))
                else:
                    target = resolve(tuple(path), item)
                if target and os.path.abspath(target) != os.path.abspath(f):
                    edges[f].add(target)

    rel = lambda p: os.path.relpath(p, SRC)
    problems = []
    # cycles (Tarjan-free: DFS with colors)
    color, stack = {}, []

    def visit(f):
        color[f] = 1
        stack.append(f)
        for g in sorted(edges[f]):
            if color.get(g) == 1:
                problems.append("cycle: " + " -> ".join(rel(x) for x in stack[stack.index(g):] + [g]))
            elif g in edges and not color.get(g):
                visit(g)
        stack.pop()
        color[f] = 2

    for f in sorted(files):
        if not color.get(f):
            visit(f)

    sizes = []
    long_fns = []
    for f, text in texts.items():
        is_test = os.path.basename(f) == "tests.rs"
        body = strip_tests(text)
        n = 0 if is_test else len(body.rstrip("\n").split("\n"))
        sizes.append((n, rel(f)))
        if n > FILE_LIMIT:
            problems.append(f"file over {FILE_LIMIT} non-test lines: {rel(f)} ({n})")
        if not is_test:
            for name, length in functions(body):
                long_fns.append((length, f"{rel(f)}: {name}"))
                if length > FN_LIMIT:
                    problems.append(f"function over {FN_LIMIT} lines: {rel(f)}: {name} ({length})")

    if "--check" not in sys.argv:
        print("module graph (file -> files it uses):")
        for f in sorted(files, key=rel):
            print(f"  {rel(f)} -> {', '.join(sorted(rel(g) for g in edges[f])) or '-'}")
        print("\nlargest files (non-test lines):")
        for n, name in sorted(sizes, reverse=True)[:10]:
            print(f"  {n:5} {name}")
        print(f"  total {sum(n for n, _ in sizes)} in {len(files)} files")
        print("\nlongest functions:")
        for n, name in sorted(long_fns, reverse=True)[:10]:
            print(f"  {n:5} {name}")
    for p in problems:
        print(p, file=sys.stderr)
    if "--check" in sys.argv and problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
