#!/usr/bin/env python3
"""The Winograd transforms of src/backend/cpu/cpu_conv_winograd.c, derived.

Toom-Cook at the points 0, 1, -1, 2, -2 and infinity, in exact fractions:
F(2, 5) for the forward (2 outputs of a 5-tap correlation from 6 inputs) and
F(5, 2) for dw (5 outputs of a 2-tap correlation). Checks, exactly, that

    y = A^T [(G g) * (B^T d)]    computes y[i] = sum_k g[k] d[i + k]

for random integer g and d, in 1-D and as the 2-D nesting Y = A^T [(G g G^T)
* (B^T d B)] A, and that the matrices written in the C file's header comment
are these. Prints them. Standard library only; exits non-zero on a mismatch.

Usage: python3 tests/winograd_matrices.py [path/to/cpu_conv_winograd.c]
"""
import random
import re
import sys
from fractions import Fraction as Fr

POINTS = [Fr(0), Fr(1), Fr(-1), Fr(2), Fr(-2)]  # and infinity


def polymul(a, b):
    r = [Fr(0)] * (len(a) + len(b) - 1)
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            r[i + j] += x * y
    return r


def transforms(m, r, pts=POINTS):
    """A^T (m, n), G (n, r), B^T (n, n) of F(m, r), n = m + r - 1 points."""
    n = len(pts) + 1
    assert n == m + r - 1
    bt = [[Fr(0)] * n for _ in range(n)]  # bt[j][k]: x^k of point j's numerator
    g = []
    for j, a in enumerate(pts):
        num, den = [Fr(1)], Fr(1)
        for i, b in enumerate(pts):
            if i != j:
                num, den = polymul(num, [-b, Fr(1)]), den * (a - b)
        bt[j] = num + [Fr(0)]
        g.append([a ** k / den for k in range(r)])
    full = [Fr(1)]
    for b in pts:
        full = polymul(full, [-b, Fr(1)])
    bt[n - 1] = full
    g.append([Fr(1) if k == r - 1 else Fr(0) for k in range(r)])
    at = [[a ** i for a in pts] + [Fr(1) if i == m - 1 else Fr(0)] for i in range(m)]
    return at, g, bt


def matvec(M, v):
    return [sum(x * y for x, y in zip(row, v)) for row in M]


def transpose(M):
    return [list(c) for c in zip(*M)]


def matmul(A, B):
    Bt = transpose(B)
    return [[sum(x * y for x, y in zip(row, col)) for col in Bt] for row in A]


def check(m, r, rng):
    at, g, bt = transforms(m, r)
    n = m + r - 1
    for _ in range(50):
        gv = [Fr(rng.randint(-9, 9)) for _ in range(r)]
        dv = [Fr(rng.randint(-9, 9)) for _ in range(n)]
        got = matvec(at, [x * y for x, y in zip(matvec(g, gv), matvec(bt, dv))])
        want = [sum(gv[k] * dv[i + k] for k in range(r)) for i in range(m)]
        if got != want:
            sys.exit(f"F({m},{r}) 1-D: {got} != {want}")
        gm = [[Fr(rng.randint(-9, 9)) for _ in range(r)] for _ in range(r)]
        dm = [[Fr(rng.randint(-9, 9)) for _ in range(n)] for _ in range(n)]
        u = matmul(matmul(g, gm), transpose(g))
        v = matmul(matmul(bt, dm), transpose(bt))
        prod = [[u[i][j] * v[i][j] for j in range(n)] for i in range(n)]
        got = matmul(matmul(at, prod), transpose(at))
        want = [[sum(gm[k][l] * dm[i + k][j + l] for k in range(r) for l in range(r))
                 for j in range(m)] for i in range(m)]
        if got != want:
            sys.exit(f"F({m}x{m},{r}x{r}) 2-D: mismatch")
    return at, g, bt


def comment_matrices(path):
    """A^T, G and B^T as the C file's header comment lays them out: A^T then
    B^T on the left, G on the right (brackets of numbers from column 25 on)."""
    head = open(path).read().split("*/", 1)[0]
    mats, left = {"A^T": [], "G": [], "B^T": []}, "A^T"
    for line in head.splitlines():
        if "B^T =" in line:
            left = "B^T"
        for mo in re.finditer(r"\[((?:\s*-?\d+(?:/\d+)?)+\s*)\]", line):
            name = "G" if mo.start() >= 25 else left
            mats[name].append([Fr(x) for x in mo.group(1).split()])
    return mats


def main():
    rng = random.Random(5)
    fwd = check(2, 5, rng)
    dw = check(5, 2, rng)
    for label, (at, g, bt) in (("F(2, 5), forward", fwd), ("F(5, 2), dw", dw)):
        print(label)
        for name, mat in (("A^T", at), ("G", g), ("B^T", bt)):
            print(f"  {name}:")
            for row in mat:
                print("    " + " ".join(f"{str(x):>5}" for x in row))
    if fwd[2] != dw[2]:
        sys.exit("the two algorithms' B^T differ (the points are the same)")
    src = sys.argv[1] if len(sys.argv) > 1 else "src/backend/cpu/cpu_conv_winograd.c"
    mats = comment_matrices(src)
    for name, want in (("A^T", fwd[0]), ("G", fwd[1]), ("B^T", fwd[2])):
        if mats[name] != want:
            sys.exit(f"{src}: the header comment's {name} is not the derived one")
    print(f"{src}: the header comment's matrices are these")


if __name__ == "__main__":
    main()
