"""results_check.py - the Python side of test_results_crash.sh: checks what
results_writer wrote, through analysis/nnsweep_results.py (h5py).

  results_check.py verify PATH [--plain] [--complete] LOG...
      every row the logs say was flushed is there with its exact values,
      every run the logs say finished is done with the right weights, and
      nothing else is wrong (rows are epoch 0..n-1 with the right values)
  results_check.py verifygrow PATH [--plain] [--complete] --runs=N --steps=S LOG...
      the same for `results_writer grow PATH N S`: every run the logs say was added
      is there, every row logged since its last reset, with its values
      (logs, history, histories), finished runs done with their outputs
  results_check.py plainfails PATH     a plain (non-SWMR) h5py open fails
  results_check.py poll PATH SECONDS   concurrent SWMR reader: polls with
      refresh while a writer runs; runs and rows must grow, never shrink,
      be right
  results_check.py foreign DIR         ResultsFileError for files not ours
  results_check.py makev1 PATH         writes a schema-1 file as the old
      writer laid it out (h5py): sweep "crash", runs r00 (done, weights),
      r01 (running, 2 epochs), r02 (pending); prints the log lines verify
      reads ("flushed R E", "finished R")
Exit 0 when all is well, 1 with a message otherwise.
"""

import json
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


def log_names(s):
    """results_writer.c log_row: the names logged at step s."""
    return ["loss", "acc/top-1"] + ([f"n{s // 3}"] if s % 3 == 0 else [])


def check_logs(res, run_id, where, live=False):
    """The run's logged values (current attempt) are rows 0..n-1 of
    log_row's names and values, and so is its history (live: a writer may
    log between the two reads); returns n."""
    r = int(run_id[1:])
    lg = res.logs(run_id)
    steps = sorted(set(lg["step"]))
    if steps != list(range(len(steps))):
        fail(f"{where}: run {run_id} logged steps {steps}")
    want = [(s, name, float(r * 1000 + s) + k / 100.0)
            for s in steps for k, name in enumerate(log_names(s))]
    got = list(zip(lg["step"], lg["name"], lg["value"]))
    if got != want:
        fail(f"{where}: run {run_id} logged {got[:6]}..., expected {want[:6]}...")
    h = res.history(run_id)
    if len(h) and (list(h["step"]) != list(range(len(h))) or
                   list(h["loss"]) != [r * 1000.0 + s for s in range(len(h))] or
                   list(h["acc/top-1"]) != [r * 1000.0 + s + 0.01 for s in range(len(h))]):
        fail(f"{where}: run {run_id} history\n{h}")
    if not live and len(h) != len(steps):
        fail(f"{where}: run {run_id}: history has {len(h)} steps, logs {len(steps)}")
    return len(steps)


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


def parse_grow(logs):
    """Per run id, from the log lines in order: added, resets seen, steps
    logged since the last reset, finished."""
    runs = {}
    for log in logs:
        with open(log) as fh:
            for line in fh:
                p = line.split()
                if len(p) != 3 or p[0] not in ("added", "logged", "reset", "finished"):
                    continue
                st = runs.setdefault(p[1], {"added": False, "resets": 0, "steps": [],
                                            "finished": False})
                if p[0] == "added":
                    st["added"] = True
                elif p[0] == "reset":
                    st["resets"] += 1
                    st["steps"] = []
                elif p[0] == "logged":
                    st["steps"].append(int(p[2]))
                else:
                    st["finished"] = True
    return runs


def verifygrow(path, plain, complete, n_total, steps, logs):
    seen = parse_grow(logs)
    where = f"{path} ({'plain' if plain else 'swmr'} open)"
    try:
        res = ResultsFile(path, swmr=not plain)
    except ResultsFileError as e:
        fail(f"{where}: {e}")
    with res:
        board = res.summary()
        board = board[board.sweep == "grow"]
        have = set(board.run_id)
        missing = [i for i, st in seen.items() if st["added"] and i not in have]
        if missing:
            fail(f"{where}: runs {missing} were added (flushed) but are not in the file")
        n_rows = 0
        for _, row in board.iterrows():
            st = seen.get(row.run_id, {"resets": 0, "steps": [], "finished": False})
            if row.kind != "program" or res.config(row.run_id) != {"program": "grow",
                                                                   "index": int(row.run_id[1:])}:
                fail(f"{where}: run {row.run_id}: kind {row.kind}, config "
                     f"{res.config(row.run_id)}")
            n = check_logs(res, row.run_id, where)
            n_rows += n
            if row.attempt < st["resets"] or row.attempt > st["resets"] + 1:
                fail(f"{where}: run {row.run_id} attempt {row.attempt}, {st['resets']} resets "
                     f"flushed")
            if row.attempt == st["resets"] and n < len(st["steps"]):
                fail(f"{where}: run {row.run_id}: {len(st['steps'])} rows flushed since its last "
                     f"reset, {n} read")
            if row.last_step != n - 1:
                fail(f"{where}: run {row.run_id}: last_step {row.last_step}, {n} steps")
            if st["finished"] and (row.status != "done" or row.best_step != steps - 1 or
                                   res.outputs(row.run_id) != {"artifacts": ["ckpt.pt"]}):
                fail(f"{where}: run {row.run_id} finished but reads {row.status}, best_step "
                     f"{row.best_step}, outputs {res.outputs(row.run_id)}")
            if complete and (row.status != "done" or n != steps):
                fail(f"{where}: run {row.run_id} is {row.status} with {n} steps")
        if complete and len(board) != n_total:
            fail(f"{where}: {len(board)} runs, expected {n_total}")
        h = res.histories()
        h = h[h.sweep == "grow"]
        if len(h) != n_rows:
            fail(f"{where}: histories() has {len(h)} rows of sweep grow, history() {n_rows}")
        print(f"verified {where}: {n_rows} logged steps in {len(board)} program runs, "
              f"{int((board.status == 'done').sum())} done, "
              f"{int((board.attempt > 0).sum())} reset")


def plainfails(path):
    try:
        h5py.File(path, "r").close()
    except OSError as e:
        print(f"plain open refused as expected: {str(e)[:80]}")
        return
    fail(f"{path}: a plain open of a killed writer's file worked (expected it to fail)")


def poll(path, seconds, want_runs):
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
                if row.kind == "program":
                    n = check_logs(res, row.run_id, f"{path} (while written)", live=True)
                    key = (row.run_id, row.attempt)
                else:
                    df = res.metrics(row.run_id)
                    check_rows(r, df, f"{path} (while written)")
                    if row.status == "done":
                        check_weights(res, r, row.run_id, f"{path} (while written)")
                    n, key = len(df), (row.run_id, 0)
                if n < last.get(key, 0):
                    fail(f"{path}: run {row.run_id} shrank from {last[key]} to {n} rows")
                last[key] = n
                total += n
            seen.add((len(board), total))
            polls += 1
            if len(board) >= want_runs and (board.status == "done").all():
                break
            time.sleep(0.005)
    if len(seen) < 3 or len({n for n, _ in seen}) < (2 if want_runs > 4 else 1):
        fail(f"{path}: the SWMR reader saw only (runs, rows) {sorted(seen)} in {polls} polls")
    print(f"SWMR reader: {polls} polls, {len(seen)} distinct (runs, rows), "
          f"{min(seen)} .. {max(seen)}")


def foreign(d):
    text = os.path.join(d, "text.h5")
    with open(text, "w") as fh:
        fh.write("not hdf5\n")
    plain = os.path.join(d, "plain.h5")
    with h5py.File(plain, "w") as f:
        f["x"] = 1
    cases = [(text, "not"), (plain, "not an nnsweep results file"),
             (os.path.join(d, "missing.h5"), "no such file")]
    v3 = os.path.join(d, "v3.h5")
    if os.path.exists(v3):
        cases.append((v3, "schema version 3"))
    for p, text_ in cases:
        try:
            ResultsFile(p)
        except ResultsFileError as e:
            if p not in str(e) or text_ not in str(e):
                fail(f"message for {p}: {e}")
            print(f"ResultsFileError as expected: {e}")
            continue
        fail(f"{p}: opened without ResultsFileError")


def makev1(path):
    """The old writer's layout (results.h, schema version 1), by hand."""
    s = lambda n: h5py.string_dtype("utf-8", n)  # noqa: E731
    b = h5py.enum_dtype({"FALSE": 0, "TRUE": 1}, basetype="i1")
    row_t = np.dtype([("run_id", s(16)), ("sweep", s(64)), ("status", s(16)),
                      ("epochs", "<i4"), ("epochs_done", "<i4"), ("best_epoch", "<i4"),
                      ("best_val_accuracy", "<f8"), ("best_test_accuracy", "<f8"),
                      ("wall_seconds", "<f8"), ("n_params", "<i8"), ("has_weights", b),
                      ("host", s(64)), ("worker_rank", "<i4"), ("device", s(16)),
                      ("message", s(512))])
    m_t = np.dtype([("epoch", "<i4")] + [(f, "<f8") for f in FIELDS])
    epochs, hidden = 3, 16
    layout = [("fc0.weight", (hidden, 3072), False), ("fc0.bias", (hidden,), False),
              ("out.weight", (10, hidden), False), ("out.bias", (10,), False)]
    n_state = sum(int(np.prod(sh)) for _, sh, _ in layout)
    done_rows = {0: epochs + 1, 1: 2, 2: 0}
    status = {0: "done", 1: "running", 2: "pending"}
    rows = []
    with h5py.File(path, "w", libver="latest") as f:
        f.attrs["format"] = "nnsweep-results"
        f.attrs["schema_version"] = np.int32(1)
        f.attrs["nnsweep_version"] = "0.9"
        f.attrs["dataset"] = "CIFAR-10"
        g = f.create_group("sweeps").create_group("crash")
        for k, v in (("spec", "name: crash\n"), ("method", "grid"), ("metric", "test_accuracy"),
                     ("goal", "maximize")):
            g.attrs[k] = v
        runs = f.create_group("runs")
        for r in range(3):
            rid = f"r{r:02d}"
            g = runs.create_group(rid)
            g.attrs["config"] = json.dumps({"seed": r, "epochs": epochs,
                                            "hidden_layers": [hidden]})
            g.attrs["sweep"] = "crash"
            g.attrs["n_params"] = np.int64(n_state)
            m = np.zeros(done_rows[r], m_t)
            for e in range(done_rows[r]):
                m[e]["epoch"] = e
                for k, name in enumerate(FIELDS):
                    m[e][name] = value(r, e, k + 1)
            g.create_dataset("metrics", data=m, maxshape=(None,), chunks=(64,))
            w = g.create_group("weights", track_order=True)
            w.attrs["n_state"] = np.int64(n_state)
            state = ((np.arange(n_state) % 1000) + r * 7).astype(np.float32) * np.float32(0.5)
            off = 0
            for name, shape, buf in layout:
                n = int(np.prod(shape))
                ds = w.create_dataset(name, shape=shape, dtype="<f4", chunks=shape)
                if r == 0:
                    ds[...] = state[off:off + n].reshape(shape)
                ds.attrs["offset"] = np.int64(off)
                ds.attrs["is_buffer"] = np.array(buf, dtype=b)
                off += n
            rows.append((rid, "crash", status[r], epochs, max(done_rows[r] - 1, 0),
                         epochs if r == 0 else -1, 0.5 if r == 0 else np.nan,
                         value(r, epochs, 6) if r == 0 else np.nan, 1.0, n_state, r == 0,
                         "oldhost" if r < 2 else "", 1 if r < 2 else -1, "cpu" if r < 2 else "",
                         ""))
            for e in range(done_rows[r]):
                print(f"flushed {r} {e}")
            if r == 0:
                print(f"finished {r}")
        f.create_dataset("summary", data=np.array(rows, row_t), maxshape=(None,), chunks=(64,))


def main(argv):
    if len(argv) >= 3 and argv[1] == "verify":
        args = argv[2:]
        plain, complete = "--plain" in args, "--complete" in args
        args = [a for a in args if not a.startswith("--")]
        verify(args[0], plain, complete, args[1:])
    elif len(argv) == 3 and argv[1] == "plainfails":
        plainfails(argv[2])
    elif len(argv) >= 4 and argv[1] == "verifygrow":
        args = argv[2:]
        plain, complete = "--plain" in args, "--complete" in args
        opt = {a.split("=")[0]: int(a.split("=")[1]) for a in args if "=" in a}
        args = [a for a in args if not a.startswith("--")]
        verifygrow(args[0], plain, complete, opt.get("--runs", 0), opt.get("--steps", 0),
                   args[1:])
    elif len(argv) in (4, 5) and argv[1] == "poll":
        poll(argv[2], float(argv[3]), int(argv[4]) if len(argv) == 5 else 0)
    elif len(argv) == 3 and argv[1] == "makev1":
        makev1(argv[2])
    elif len(argv) == 3 and argv[1] == "foreign":
        foreign(argv[2])
    else:
        fail("usage: see the top of results_check.py")


if __name__ == "__main__":
    main(sys.argv)
