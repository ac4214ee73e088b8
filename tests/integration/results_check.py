"""results_check.py - the Python side of test_results_crash.sh: checks what
results_writer wrote, through analysis/nnsweep_results.py (h5py).

  results_check.py verify PATH [--plain] [--complete] LOG...
      every row the logs say was flushed is there with its exact values,
      every run the logs say finished is done with the right weights, and
      nothing else is wrong (rows are epoch 0..n-1 with the right values)
  results_check.py plainfails PATH     a plain (non-SWMR) h5py open fails
  results_check.py poll PATH SECONDS   concurrent SWMR reader: polls with
      refresh while a writer runs; rows must grow, never shrink, be right
  results_check.py foreign DIR         ResultsFileError for files not ours
Exit 0 when all is well, 1 with a message otherwise.
"""

import os
import sys
import time

import h5py
import numpy as np

sys.path.insert(0, os.environ.get("NNSWEEP_ANALYSIS", os.path.join(
    os.path.dirname(__file__), "..", "..", "analysis")))
from nnsweep_results import ResultsFile, ResultsFileError  # noqa: E402

FIELDS = ["train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_loss",
          "test_accuracy", "top_accuracy", "learning_rate", "seconds"]


def fail(msg):
    print("results_check: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def value(r, e, f):
    return float(r * 1000 + e) + f / 10.0


def check_rows(r, df, where):
    for e in range(len(df)):
        if df["epoch"].iloc[e] != e:
            fail(f"{where}: run {r} row {e} has epoch {df['epoch'].iloc[e]}")
        for k, name in enumerate(FIELDS):
            got, want = df[name].iloc[e], value(r, e, k + 1)
            if got != want:
                fail(f"{where}: run {r} epoch {e} {name} = {got!r}, expected {want!r}")


def check_weights(res, r, run_id, where):
    w = res.weights(run_id)
    if not w:
        fail(f"{where}: run {r} is done but has no weights")
    state = res.state(run_id)
    want = ((np.arange(state.size) % 1000) + r * 7).astype(np.float32) * np.float32(0.5)
    if not np.array_equal(state, want):
        bad = np.nonzero(state != want)[0]
        fail(f"{where}: run {r} weights differ at {len(bad)} places, first {bad[0]}")
    names = list(w)
    if names[0] != "fc0.weight" or w["fc0.weight"].shape[1] != 3072:
        fail(f"{where}: run {r} weights {names} {w[names[0]].shape}")


def parse_logs(logs):
    flushed, finished = {}, set()
    for log in logs:
        with open(log) as fh:
            for line in fh:
                p = line.split()
                if len(p) == 3 and p[0] == "flushed":
                    r, e = int(p[1]), int(p[2])
                    flushed[r] = max(flushed.get(r, -1), e)
                elif len(p) == 2 and p[0] == "finished":
                    finished.add(int(p[1]))
    return flushed, finished


def verify(path, plain, complete, logs):
    flushed, finished = parse_logs(logs)
    where = f"{path} ({'plain' if plain else 'swmr'} open)"
    try:
        res = ResultsFile(path, swmr=not plain)
    except ResultsFileError as e:
        fail(f"{where}: {e}")
    with res:
        board = res.summary()
        n_rows = 0
        for r, row in board.iterrows():
            df = res.metrics(row.run_id)
            n_rows += len(df)
            check_rows(r, df, where)
            if flushed.get(r, -1) + 1 > len(df):
                fail(f"{where}: run {r}: {flushed[r] + 1} rows were flushed, {len(df)} read")
            if row.status == "done":
                if len(df) != row.epochs + 1 or row.epochs_done != row.epochs:
                    fail(f"{where}: run {r} done with {len(df)} rows of {row.epochs + 1}")
                check_weights(res, r, row.run_id, where)
            elif r in finished:
                fail(f"{where}: run {r} finished but its status is {row.status}")
            elif row.has_weights:
                fail(f"{where}: run {r} ({row.status}) claims weights")
            if complete and row.status != "done":
                fail(f"{where}: run {r} is {row.status}, expected done")
        print(f"verified {where}: {n_rows} rows in {len(board)} runs, "
              f"{int((board.status == 'done').sum())} done")


def plainfails(path):
    try:
        h5py.File(path, "r").close()
    except OSError as e:
        print(f"plain open refused as expected: {str(e)[:80]}")
        return
    fail(f"{path}: a plain open of a killed writer's file worked (expected it to fail)")


def poll(path, seconds):
    deadline = time.time() + seconds
    res = None
    while res is None:
        try:
            res = ResultsFile(path)
        except ResultsFileError:
            if time.time() > deadline:
                fail(f"{path}: never became readable")
            time.sleep(0.01)
    print("ready", flush=True)
    seen, last, polls = set(), {}, 0
    with res:
        while time.time() < deadline:
            board = res.summary()
            total = 0
            for r, row in board.iterrows():
                df = res.metrics(row.run_id)
                if len(df) < last.get(r, 0):
                    fail(f"{path}: run {r} shrank from {last[r]} to {len(df)} rows")
                last[r] = len(df)
                check_rows(r, df, f"{path} (while written)")
                if row.status == "done":
                    check_weights(res, r, row.run_id, f"{path} (while written)")
                total += len(df)
            seen.add(total)
            polls += 1
            if (board.status == "done").all():
                break
            time.sleep(0.005)
    if len(seen) < 3:
        fail(f"{path}: the SWMR reader saw only {sorted(seen)} rows in {polls} polls")
    print(f"SWMR reader: {polls} polls, {len(seen)} distinct row counts, "
          f"{min(seen)} .. {max(seen)} rows")


def foreign(d):
    text = os.path.join(d, "text.h5")
    with open(text, "w") as fh:
        fh.write("not hdf5\n")
    plain = os.path.join(d, "plain.h5")
    with h5py.File(plain, "w") as f:
        f["x"] = 1
    cases = [(text, "not"), (plain, "not an nnsweep results file"),
             (os.path.join(d, "missing.h5"), "no such file")]
    v2 = os.path.join(d, "v2.h5")
    if os.path.exists(v2):
        cases.append((v2, "schema version 2"))
    for p, text_ in cases:
        try:
            ResultsFile(p)
        except ResultsFileError as e:
            if p not in str(e) or text_ not in str(e):
                fail(f"message for {p}: {e}")
            print(f"ResultsFileError as expected: {e}")
            continue
        fail(f"{p}: opened without ResultsFileError")


def main(argv):
    if len(argv) >= 3 and argv[1] == "verify":
        args = argv[2:]
        plain, complete = "--plain" in args, "--complete" in args
        args = [a for a in args if not a.startswith("--")]
        verify(args[0], plain, complete, args[1:])
    elif len(argv) == 3 and argv[1] == "plainfails":
        plainfails(argv[2])
    elif len(argv) == 4 and argv[1] == "poll":
        poll(argv[2], float(argv[3]))
    elif len(argv) == 3 and argv[1] == "foreign":
        foreign(argv[2])
    else:
        fail("usage: see the top of results_check.py")


if __name__ == "__main__":
    main(sys.argv)
