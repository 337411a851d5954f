#!/usr/bin/env python3
"""The shape of src/: the file-level module graph, file and function sizes.

    python3 scripts/layout.py          # the report: graph, largest files and functions
    python3 scripts/layout.py --check  # exit 1 on a cycle between files or between
                                       # folders (top-level modules), a file over
                                       # FILE_LIMIT non-test lines or a function over
                                       # FN_LIMIT lines (DEVELOPERS.md, STYLE.md)

An edge A -> B means a path in A (`crate::x::y`, `super::z`, a leaf of a `use` tree such
as `use crate::{x::Y, z::{self, W}};`) names an item defined in B.
Declarations and re-exports (`mod x;`, `pub(crate) use x::Y;`) are not edges: a folder's
mod.rs that re-exports its children does not depend on them, and a path through it is
followed to the file that defines the item.
"""

import os
import re
import sys

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
FILE_LIMIT = 450
FN_LIMIT = 60


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


USE = re.compile(r"^[ \t]*(pub(?:\([^)]*\))?[ \t]+)?use[ \t]+([^;]+);", re.M)


def split_top(text):
    """`text` split at the commas that are not inside braces."""
    parts, depth, cur = [], 0, ""
    for c in text:
        if c == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += (c == "{") - (c == "}")
        cur += c
    return parts + [cur]


def expand(tree):
    """The leaf paths of a use tree (`a::{b, c::{d, e as f}}`), each a list of names."""
    tree = " ".join(tree.split())
    if not tree:
        return []
    if tree.startswith("{"):
        return [p for part in split_top(tree[1 : tree.rindex("}")]) for p in expand(part)]
    brace = tree.find("{")
    sep = tree.find("::")
    if sep >= 0 and (brace < 0 or sep < brace):
        head, rest = tree[:sep].strip(), tree[sep + 2 :]
        return [[head] + p for p in expand(rest)]
    return [[tree.split(" ")[0]]]


def anchored(mod, parts):
    """`parts` (a use path or a path in code) as a module path from the crate's root, or
    None when it starts elsewhere (std, a dependency)."""
    if parts[0] == "crate":
        return list(parts[1:])
    if parts[0] == "super":
        base, k = list(mod), 0
        while k < len(parts) and parts[k] == "super":
            base, k = base[:-1], k + 1
        return base + list(parts[k:])
    if parts[0] == "self":
        return list(mod) + list(parts[1:])
    return None


def uses(mod, text):
    """(is_reexport, leaf path from the root) of every `use` of this crate's items."""
    for m in USE.finditer(text):
        for leaf in expand(m.group(2)):
            path = anchored(mod, leaf)
            if path is None and m.group(1) and file_of(tuple(mod) + (leaf[0],)):
                path = list(mod) + leaf  # `pub use child::Item;` in a folder's mod.rs
            if path is not None:
                yield bool(m.group(1)), path


def reexports(path, text):
    """Names a file re-exports, mapped to the module that defines them."""
    names = {}
    for public, leaf in uses(module_of(path), strip_tests(text)):
        if public and len(leaf) > 1 and leaf[-1] not in ("self", "*"):
            names[leaf[-1]] = tuple(leaf[:-1])
    return names


def folder_of(module):
    """The top-level module a module belongs to: its folder (or its own file at src/)."""
    return module[0] if module else None


def unmapped(files):
    """Files the map in DEVELOPERS.md's Layout section does not name: each file of a
    folder (but its mod.rs) in that folder's entry, each file at src/ anywhere in the map."""
    text = open(os.path.join(SRC, "..", "DEVELOPERS.md")).read()
    layout = text.split("## Layout", 1)[-1].split("\n## ", 1)[0]
    block = [l for l in layout.split("\n") if l.startswith("    ")]
    entries, current = {}, None
    for line in block:
        m = re.match(r"    (\w+)/ ", line)
        if m:
            current = m.group(1)
        entries[current] = entries.get(current, "") + line + "\n"
    everything = "\n".join(block)
    missing = []
    for f in sorted(files):
        parts = os.path.relpath(f, SRC).split(os.sep)
        name = parts[-1]
        if name in ("mod.rs", "lib.rs", "main.rs", "tests.rs"):
            continue
        where = everything if len(parts) == 1 else entries.get(parts[0], "")
        if not re.search(r"(?<![\w.])" + re.escape(name) + r"(?!\w)", where):
            missing.append(f"DEVELOPERS.md's map does not name {'/'.join(parts)}")
    return missing


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

    def target_of(path):
        """The file that defines the item a root-anchored path names."""
        found = []
        for k, p in enumerate(path):
            if file_of(tuple(found + [p])):
                found.append(p)
            else:
                return resolve(tuple(found), p)
        return file_of(tuple(found))

    edges = {f: set() for f in files}
    for f, text in texts.items():
        mod = module_of(f)
        body = strip_tests(text)
        paths = [leaf for public, leaf in uses(mod, body) if not public]
        code = USE.sub("", body)
        for m in re.finditer(r"\b((?:crate|super|self)(?:::\w+)+)", code):
            path = anchored(mod, m.group(1).split("::"))
            if path:
                paths.append(path)
        for path in paths:
            target = target_of([p for p in path if p not in ("self", "*")])
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

    # Folders: an edge between two top-level modules when a file of one uses a file of the
    # other (a folder's own files may use each other freely).
    folders = {}
    for f, targets in edges.items():
        a = folder_of(module_of(f))
        for g in targets:
            b = folder_of(module_of(g))
            if a and b and a != b:
                folders.setdefault(a, set()).add(b)
    fcolor, fstack = {}, []

    def fvisit(a):
        fcolor[a] = 1
        fstack.append(a)
        for b in sorted(folders.get(a, ())):
            if fcolor.get(b) == 1:
                problems.append("folder cycle: " + " -> ".join(fstack[fstack.index(b):] + [b]))
            elif not fcolor.get(b):
                fvisit(b)
        fstack.pop()
        fcolor[a] = 2

    for a in sorted(folders):
        if not fcolor.get(a):
            fvisit(a)

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

    problems += unmapped(files)

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
