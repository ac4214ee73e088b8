#!/usr/bin/env python3
"""check_layering.py - the module include graph of src/ and include/nnsweep/
against the layering of CMakeLists.txt (standard library only).

    check_layering.py [ROOT]        (default: the checkout this file is in)

The modules and their dependencies are read from CMakeLists.txt's
`nn_module_if(NAME DIRS dir... DEPS nnsweep_x ...)` lines, the one place
they are written:

    core <- backend <- nn <- run <- (sweep, results) <- sched <- cli
    data <- run

cli is the program and may include anything.

Every `#include "nnsweep/X.h"` (and "DIR/Y.h" of another module's private
headers) in src/<module>/ and in the public headers must name a module that
the including one depends on, directly or through others; a public header
belongs to the module of HEADERS below. Since the dependency graph must be
acyclic (checked), no include cycle between modules can pass either.
NARROW lists includes that the layering allows but the design does not:
results and the scheduler see a run's outcome (outcome.h, tensor.h), never
the model or the trainer; results stores a run's config as JSON text and
does not read it (no config.h), whatever kind of run it is (no run.h).
Inside the backend module, each implementation's folder (src/backend/ref/,
cpu/, cuda/) includes its own headers and those of src/backend/ itself
(backend_impl.h, shared_math.h), never another implementation's private
headers.

Exits 0 when everything holds, 1 with one line per violation otherwise,
2 when CMakeLists.txt or a header cannot be placed.
"""
import os
import re
import sys

# Module of each public header (include/nnsweep/X.h).
HEADERS = {
    "core.h": "core", "yamltree.h": "core", "rng.h": "core", "tensor.h": "core",
    "backend.h": "backend",
    "data.h": "data",
    "model.h": "nn", "optim.h": "nn",
    "config.h": "run", "train.h": "run", "outcome.h": "run", "run.h": "run",
    "program.h": "run",
    "sweep.h": "sweep",
    "results.h": "results",
    "sched.h": "sched",
}

# Allowed by the layering, not by the design: module -> headers it must not include.
NARROW = {
    "results": {"model.h", "train.h", "config.h", "run.h"},
    "sched": {"model.h", "train.h"},
}

# Folders of src/backend/ holding one backend each: private to it.
BACKEND_FOLDERS = ("ref", "cpu", "cuda")

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
MODULE = re.compile(r"nn_module_if\(\s*(\w+)\s+DIRS\s+([^)]*?)\s+DEPS\s+([^)]*)\)")


def read_modules(root):
    """{module: (dirs, direct deps)} from CMakeLists.txt."""
    with open(os.path.join(root, "CMakeLists.txt")) as f:
        text = f.read()
    mods = {}
    for name, dirs, deps in MODULE.findall(text):
        mods[name] = (dirs.split(), [d[len("nnsweep_"):] for d in deps.split()
                                     if d.startswith("nnsweep_")])
    return mods


def closure(mods, errors):
    """{module: set of modules it may include}; reports dependency cycles."""
    allowed = {}

    def visit(m, path):
        if m in path:
            errors.append("CMakeLists.txt: module dependency cycle " + " -> ".join(path + [m]))
            return set()
        if m not in allowed:
            s = {m}
            for d in mods.get(m, ((), ()))[1]:
                if d not in mods:
                    errors.append(f"CMakeLists.txt: module {m} depends on unknown module {d}")
                    continue
                s |= visit(d, path + [m])
            allowed[m] = s
        return allowed[m]

    for m in mods:
        visit(m, [])
    return allowed


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                           os.path.join(os.path.dirname(__file__), ".."))
    mods = read_modules(root)
    if "sched" not in mods:
        print(f"check_layering: {root}/CMakeLists.txt: expected nn_module_if lines with the "
              f"scheduler module sched, found {sorted(mods)}")
        return 2
    headers, narrow = HEADERS, NARROW
    errors = []
    allowed = closure(mods, errors)
    allowed["cli"] = set(mods) | {"cli"}
    dir_module = {d: m for m, (dirs, _) in mods.items() for d in dirs}
    dir_module["cli"] = "cli"

    files = []  # (path relative to root, module)
    inc = os.path.join(root, "include", "nnsweep")
    for h in sorted(os.listdir(inc)):
        if h.endswith(".h"):
            if h not in headers:
                print(f"check_layering: include/nnsweep/{h}: no module for this header: add it "
                      f"to HEADERS in {os.path.relpath(__file__, root)}")
                return 2
            files.append((f"include/nnsweep/{h}", headers[h]))
    for top in sorted(os.listdir(os.path.join(root, "src"))):
        if top not in dir_module:
            print(f"check_layering: src/{top}: not a module of CMakeLists.txt")
            return 2
        for dirpath, _, names in sorted(os.walk(os.path.join(root, "src", top))):
            for n in sorted(names):
                if n.endswith((".c", ".h", ".cu", ".cuh")):
                    files.append((os.path.relpath(os.path.join(dirpath, n), root),
                                  dir_module[top]))

    n_inc = 0
    for rel, mod in files:
        with open(os.path.join(root, rel), errors="replace") as f:
            text = f.read()
        for match in INCLUDE.finditer(text):
            name = match.group(1)
            line = text.count("\n", 0, match.start()) + 1
            first, _, rest = name.partition("/")
            parts = name.split("/")
            if first == "backend" and len(parts) == 3 and parts[1] in BACKEND_FOLDERS:
                own = rel.split("/")[2] if rel.startswith("src/backend/") else None
                if own != parts[1]:
                    errors.append(f"{rel}:{line}: includes {name}, private to "
                                  f"src/backend/{parts[1]}/ (what backends share goes in "
                                  f"src/backend/backend_impl.h)")
            if first == "nnsweep":
                if rest not in headers:
                    errors.append(f"{rel}:{line}: includes {name}, which is not in "
                                  f"include/nnsweep/")
                    continue
                target = headers[rest]
            elif rest and first in dir_module:
                target = dir_module[first]
            else:
                continue  # a header of the same folder
            n_inc += 1
            if target not in allowed[mod]:
                deps = " ".join(mods.get(mod, ((), ()))[1]) or "nothing"
                errors.append(f"{rel}:{line}: module {mod} includes {name} of module {target}, "
                              f"which it does not depend on (CMakeLists.txt: {mod} DEPS {deps})")
            elif first == "nnsweep" and rest in narrow.get(mod, ()):
                errors.append(f"{rel}:{line}: module {mod} includes {name}: {mod} sees a run's "
                              f"outcome (outcome.h, tensor.h), not the model or the trainer")
    for e in errors:
        print(e)
    if errors:
        print(f"check_layering: {len(errors)} violation(s)")
        return 1
    print(f"ok: {n_inc} includes between modules in {len(files)} files follow the layering")
    return 0


if __name__ == "__main__":
    sys.exit(main())
