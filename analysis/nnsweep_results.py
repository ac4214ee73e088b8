"""nnsweep_results - the one Python reader of nnsweep results files.

The schema (version 2; version 1 is read too) is documented at the top of
include/nnsweep/results.h. Files that a writer has open (a sweep is running,
or its writer was killed) are opened with SWMR read (h5py.File(p, "r",
libver="latest", swmr=True)); others plainly, because HDF5's SWMR reader
retries a metadata read that fails its checksum with a doubling sleep: on a
damaged file that hangs instead of failing (a damaged file that a writer
still has open can still hang a reader). Every method re-reads (refreshes)
what it returns, and reopens the file when a writer has replaced it (its
structural phase ends with a rename), so a long-lived ResultsFile follows a
running or resumed sweep.

    from nnsweep_results import ResultsFile
    with ResultsFile("results.h5") as r:
        board = r.summary()                       # one row per run
        best = board[board.status == "done"].sort_values("best_value").iloc[-1]
        curves = r.metrics(best.run_id)           # one row per epoch (train runs)
        logged = r.logs(best.run_id)              # step, name, value (long)
        wide = r.history(best.run_id)             # one row per step, a column per name
        every = r.histories()                     # all runs wide, run_id column first
        cfg = r.config(best.run_id)               # dict
        w = r.weights(best.run_id)                # {"fc0.weight": ndarray, ...}
        runs = r.runs()                           # summary + every config key

Only Debian's python3-h5py, python3-numpy and python3-pandas are needed.
`python3 nnsweep_results.py results.h5` prints the leaderboard.
"""

import json
import os
import sys

import h5py
import numpy as np
import pandas as pd

FORMAT = "nnsweep-results"
SCHEMA_VERSION = 2       # the newest schema this reader reads
SCHEMA_VERSIONS = (1, 2)  # every schema it reads

__all__ = ["ResultsFile", "ResultsFileError", "FORMAT", "SCHEMA_VERSION", "SCHEMA_VERSIONS",
           "open_results"]

# /metrics columns that are an epoch's metrics (EpochMetrics, outcome.h)
METRICS = ["epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_loss",
           "test_accuracy", "top_accuracy", "learning_rate", "seconds"]
# /summary columns of schema 2 that say where a run's data lies (not shown)
_LOCATION = ["config_offset", "config_len", "outputs_offset", "outputs_len", "tensors_first",
             "n_tensors", "weights_offset", "metrics_first", "metrics_end", "logs_first",
             "logs_end"]
# summary() columns, in order, for either schema
SUMMARY = ["run_id", "sweep", "kind", "status", "attempt", "epochs", "epochs_done", "best_epoch",
           "best_val_accuracy", "best_test_accuracy", "best_step", "best_value", "wall_seconds",
           "n_params", "n_state", "has_weights", "host", "worker_rank", "device", "message",
           "last_step"]
_TABLES = {1: ("summary", "sweeps", "runs"),
           2: ("summary", "sweeps", "text", "tensors", "metrics", "logs", "log_keys", "weights")}


class ResultsFileError(Exception):
    """The file cannot be read as an nnsweep results file (not HDF5, not
    ours, another schema version, damaged). The message names the file."""


def _str(v):
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace")
    if isinstance(v, np.bytes_):
        return bytes(v).decode("utf-8", errors="replace")
    return str(v)


def _decode_frame(arr):
    """A DataFrame of a compound array with fixed-length strings decoded."""
    df = pd.DataFrame(arr)
    for name in df.columns:
        if arr.dtype[name].kind == "S":
            df[name] = [_str(v) for v in arr[name]]
    return df


def _open_for_write(err):
    """A plain open failed because a writer has the file open (or was
    killed with it open): the case for SWMR read."""
    msg = str(err)
    return "already open for write" in msg or "unable to lock" in msg


def _h5_message(err):
    """h5py's message without the quotes KeyError adds."""
    return err.args[0] if isinstance(err, KeyError) and err.args else str(err)


def _open_error(err):
    """HDF5's open error in words for a person."""
    msg = str(err)
    if "file signature not found" in msg:
        return "not an HDF5 file (no HDF5 signature): not an nnsweep results file"
    if "truncated file" in msg:
        return f"truncated or damaged HDF5 file, not a complete results file ({msg})"
    return f"cannot open as an nnsweep results file: {msg}"


def _counted(run, attempt, epoch, attempts):
    """Indices, in table order, of the /metrics rows that count (results.h):
    rows of a run (run >= 0) whose attempt is attempts[run]; of those, in
    table order, the first row of each epoch, epochs 0, 1, ... up to the
    first one missing. run/attempt/epoch: the table's columns."""
    ok = (run >= 0) & (run < len(attempts))
    ok[ok] = attempt[ok] == attempts[run[ok]]
    idx = np.nonzero(ok)[0]
    r, e = run[idx], epoch[idx]
    by = np.lexsort((idx, e, r))  # an epoch written twice counts once: its first row
    first = np.ones(len(by), bool)
    first[1:] = (r[by][1:] != r[by][:-1]) | (e[by][1:] != e[by][:-1])
    idx = np.sort(idx[by[first]])
    if not len(idx):
        return idx
    r, e = run[idx], epoch[idx]
    by = np.argsort(r, kind="stable")  # per run, in table order
    r, e, idx = r[by], e[by], idx[by]
    start = np.nonzero(np.r_[True, r[1:] != r[:-1]])[0]
    group = np.repeat(np.arange(len(start)), np.diff(np.r_[start, len(r)]))
    pos = np.arange(len(r)) - start[group]
    gap = np.where(e != pos, pos, np.iinfo(np.int64).max)  # the first epoch missing
    keep = pos < np.minimum.reduceat(gap, start)[group]
    return np.sort(idx[keep])


def _in_rows(run, first, end):
    """Mask of a shared table's rows (run: its run column) that lie within
    their run's rows as /summary records them ([first, end), as metrics()
    and logs() read one run): a row appended by a writer killed before it
    updated the summary does not count."""
    ok = (run >= 0) & (run < len(first))
    at = np.arange(len(run))
    r = np.where(ok, run, 0)
    lo = np.maximum(np.asarray(first, np.int64)[r], 0) if len(first) else 0
    hi = np.asarray(end, np.int64)[r] if len(end) else 0
    return ok & (at >= lo) & (at < hi)


def _wide(metrics, logs, keys=("step",)):
    """One row per step (per keys): metrics (an epoch's row, step = epoch)
    and logged values (long: keys, name, value; a name logged twice at a
    step: the later value) side by side, names in the order first logged."""
    keys = list(keys)
    frames = []
    if len(metrics):
        frames.append(metrics.rename(columns={"epoch": "step"}).set_index(keys))
    if len(logs):
        last = logs.drop_duplicates(keys + ["name"], keep="last")
        names = list(dict.fromkeys(logs["name"]))
        frames.append(last.pivot(index=keys, columns="name", values="value")[names])
    if not frames:
        return pd.DataFrame(columns=keys)
    df = frames[0] if len(frames) == 1 else frames[0].join(frames[1], how="outer",
                                                            rsuffix=" (logged)")
    df = df.sort_index()
    df.columns.name = None
    return df.reset_index()


class ResultsFile:
    """An open results file (read-only), of schema version 1 or 2 alike.
    Use as a context manager or call close()."""

    def __init__(self, path, swmr=True):
        """Opens path read-only: plainly when no writer has it open (a
        finished or cleanly stopped sweep), else with SWMR read (a sweep
        writes it, or its writer was killed); .swmr says which. With
        swmr=False only a plain open is tried (fails while a writer has the
        file open or after a writer was killed)."""
        self.path = str(path)
        self._want_swmr = swmr
        self._open()

    def _open(self):
        # A plain open first, SWMR read only when the file is open for write
        # (a sweep writes it) or its writer was killed: a plain open of a
        # damaged file fails at once, while HDF5's SWMR reader retries every
        # metadata read that fails its checksum (a writer might be midway)
        # with a doubling sleep - on a damaged file that is a hang, not an
        # error.
        self.swmr = False
        self._ids = {}  # run_id -> summary row (rows never move)
        try:
            self._ino = os.stat(self.path).st_ino
        except OSError:
            self._ino = None
        try:
            self._f = h5py.File(self.path, "r")
        except FileNotFoundError as e:
            raise ResultsFileError(f"{self.path}: no such file") from e
        except OSError as plain:
            if not self._want_swmr or not _open_for_write(plain):
                raise ResultsFileError(f"{self.path}: {_open_error(plain)}") from plain
            try:
                self._f = h5py.File(self.path, "r", libver="latest", swmr=True)
                self.swmr = True
            except FileNotFoundError as e:
                raise ResultsFileError(f"{self.path}: no such file") from e
            except OSError as e:
                raise ResultsFileError(f"{self.path}: {_open_error(e)}") from e
        try:
            self._check()
        except ResultsFileError:
            self._f.close()
            raise
        except (OSError, KeyError, ValueError, TypeError) as e:
            self._f.close()
            raise ResultsFileError(f"{self.path}: damaged results file: {_h5_message(e)}") from e

    def _check(self):
        attrs = self._f.attrs
        fmt = _str(attrs["format"]) if "format" in attrs else None
        if fmt != FORMAT:
            raise ResultsFileError(
                f'{self.path}: not an nnsweep results file (no root attribute format="{FORMAT}")')
        if "schema_version" not in attrs:
            raise ResultsFileError(f"{self.path}: nnsweep results file without schema_version")
        version = int(attrs["schema_version"])
        if version not in SCHEMA_VERSIONS:
            raise ResultsFileError(
                f"{self.path}: results schema version {version}; this reader reads versions "
                f"{SCHEMA_VERSIONS[0]} to {SCHEMA_VERSIONS[-1]}")
        self.version = version
        for name in _TABLES[version]:
            if name not in self._f:
                raise ResultsFileError(f"{self.path}: damaged results file: /{name} is missing")

    # -- context manager -------------------------------------------------------
    def close(self):
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- helpers ------------------------------------------------------------------
    def _fresh(self):
        """A writer's structural phase (resume, a new sweep) replaces the file
        by rename: reopen when the path names another file than ours."""
        try:
            ino = os.stat(self.path).st_ino
        except OSError:
            return
        if ino != self._ino:
            self._f.close()
            self._open()

    def _dataset(self, name):
        try:
            ds = self._f[name]
            if self.swmr:
                ds.refresh()
            return ds
        except KeyError as e:
            raise ResultsFileError(f"{self.path}: damaged results file: /{name} is missing") from e
        except OSError as e:
            raise ResultsFileError(f"{self.path}: cannot read /{name}: {e}") from e

    def _summary(self):
        """The /summary array, fresh (every column)."""
        arr = self._dataset("summary")[()]
        self._ids = {_str(v): i for i, v in enumerate(arr["run_id"])}
        return arr

    def _row(self, run_id):
        """(index, the run's /summary record, fresh). KeyError: no such run."""
        run_id = str(run_id)
        if run_id not in self._ids:
            self._summary()
        if run_id not in self._ids:
            raise KeyError(f"{self.path}: no run {run_id!r}")
        i = self._ids[run_id]
        return i, self._dataset("summary")[i]

    def _text(self, run_id, what, off, n):
        try:
            return bytes(self._dataset("text")[int(off):int(off) + int(n)]).decode("utf-8")
        except (ValueError, UnicodeDecodeError) as e:
            raise ResultsFileError(
                f"{self.path}: damaged results file: run {run_id}: cannot read its {what} "
                f"({e})") from e

    def _v1_run(self, run_id):
        run_id = str(run_id)
        if "/" in run_id or run_id not in self._f["runs"]:
            raise KeyError(f"{self.path}: no run {run_id!r}")
        return self._f["runs"][run_id]

    @property
    def attrs(self):
        """Root attributes: format, schema_version, nnsweep_version, dataset
        (and converted_from in a converted file)."""
        return {k: (_str(v) if isinstance(v, (bytes, str, np.bytes_)) else v.item()
                    if hasattr(v, "item") else v) for k, v in self._f.attrs.items()}

    # -- the summary ------------------------------------------------------------------
    def summary(self):
        """The leaderboard: one row per run (DataFrame, strings decoded), the
        columns of SUMMARY for either schema (a schema-1 file's runs read as
        kind "train", attempt 0, best_step = best_epoch, best_value the sweep
        metric's best accuracy, n_state from their weights group)."""
        self._fresh()
        df = _decode_frame(self._summary())
        if self.version == 1:
            metric = {name: _str(g.attrs.get("metric", "")) for name, g in self._sweep_groups()}
            df["kind"] = "train"
            df["attempt"] = np.int32(0)
            df["best_step"] = np.where(df["best_epoch"] >= 0, df["best_epoch"], -1).astype(np.int64)
            val = df["sweep"].map(metric) == "val_accuracy"
            best = np.where(val, df["best_val_accuracy"], df["best_test_accuracy"])
            df["best_value"] = np.where(df["best_epoch"] >= 0, best, np.nan)
            df["n_state"] = [self._v1_n_state(r) for r in df["run_id"]]
            df["last_step"] = np.int64(-1)
        return df[SUMMARY] if len(df.columns) else pd.DataFrame(columns=SUMMARY)

    def _v1_n_state(self, run_id):
        g = self._f["runs"].get(f"{run_id}/weights") if "/" not in run_id else None
        return int(g.attrs["n_state"]) if isinstance(g, h5py.Group) and "n_state" in g.attrs else 0

    def _sweep_groups(self):
        for name, g in self._f["sweeps"].items():
            if not isinstance(g, h5py.Group):  # a link that no longer resolves
                raise ResultsFileError(
                    f"{self.path}: damaged results file: /sweeps/{name} cannot be read")
            yield name, g

    def sweeps(self):
        """One row per sweep: name, method, metric, goal, spec (YAML text),
        overrides (the command-line overrides it was loaded with, "" when
        none: spec + overrides reproduce the sweep)."""
        self._fresh()
        cols = ["method", "metric", "goal", "spec", "overrides"]
        rows = [{"name": name, **{k: _str(g.attrs.get(k, "")) for k in cols}}
                for name, g in self._sweep_groups()]
        return pd.DataFrame(rows, columns=["name"] + cols)

    def has_run(self, run_id):
        """Whether run run_id is in the file (schema 1: its group /runs/<id>
        resolves - every run of the summary in a sound file)."""
        self._fresh()
        run_id = str(run_id)
        if self.version == 1:
            return "/" not in run_id and run_id in self._f["runs"]
        try:
            self._row(run_id)
        except KeyError:
            return False
        return True

    # -- one run ------------------------------------------------------------------------
    def config(self, run_id):
        """The run's config as a dict (from its JSON). KeyError for an
        unknown run; ResultsFileError when the stored config cannot be read
        or is not JSON (a damaged file)."""
        self._fresh()
        if self.version == 1:
            g = self._v1_run(run_id)
            try:
                text = _str(g.attrs["config"])
            except (KeyError, OSError, RuntimeError) as e:
                raise ResultsFileError(
                    f"{self.path}: damaged results file: run {run_id}: cannot read its config "
                    f"({_h5_message(e)})") from e
        else:
            _, row = self._row(run_id)
            text = self._text(run_id, "config", row["config_offset"], row["config_len"])
        try:
            return json.loads(text)
        except ValueError as e:
            raise ResultsFileError(
                f"{self.path}: damaged results file: run {run_id}: its config is not JSON "
                f"({e})") from e

    def outputs(self, run_id):
        """What the run reported at its end (a dict: a program's summary
        values and artifacts), None when nothing (always in schema 1)."""
        self._fresh()
        if self.version == 1:
            self._v1_run(run_id)
            return None
        _, row = self._row(run_id)
        if int(row["outputs_len"]) == 0:
            return None
        return json.loads(self._text(run_id, "outputs", row["outputs_offset"],
                                     row["outputs_len"]))

    def metrics(self, run_id):
        """One row per epoch of the run's current attempt (epoch 0 = before
        training), the columns of METRICS."""
        self._fresh()
        if self.version == 1:
            self._v1_run(run_id)
            arr = self._dataset(f"runs/{run_id}/metrics")[()]
            n = len(arr)
            while n > 0 and arr["epoch"][n - 1] != n - 1:
                n -= 1  # an append in flight when a writer died
            return pd.DataFrame(arr[:n])[METRICS]
        i, row = self._row(run_id)
        lo, hi = max(int(row["metrics_first"]), 0), int(row["metrics_end"])
        arr = self._dataset("metrics")[lo:max(hi, lo)]
        attempts = np.full(i + 1, -1, np.int64)
        attempts[i] = row["attempt"]
        keep = _counted(arr["run"], arr["attempt"], arr["epoch"], attempts)
        return pd.DataFrame(arr[keep])[METRICS].reset_index(drop=True)

    def _keys(self):
        return [_str(k) for k in self._dataset("log_keys")[()]]

    def logs(self, run_id):
        """The values the run logged in its current attempt, long form:
        step, name, value, in the order logged (empty for schema 1)."""
        self._fresh()
        cols = ["step", "name", "value"]
        if self.version == 1:
            self._v1_run(run_id)
            return pd.DataFrame(columns=cols)
        i, row = self._row(run_id)
        lo, hi = max(int(row["logs_first"]), 0), int(row["logs_end"])
        if hi <= lo:
            return pd.DataFrame(columns=cols)
        arr = self._dataset("logs")[lo:hi]
        arr = arr[(arr["run"] == i) & (arr["attempt"] == row["attempt"])]
        keys = self._keys()
        try:
            names = [keys[k] for k in arr["key"]]
        except IndexError as e:
            raise ResultsFileError(f"{self.path}: damaged results file: run {run_id}: a logged "
                                   f"value names a key /log_keys lacks") from e
        return pd.DataFrame({"step": arr["step"], "name": names, "value": arr["value"]},
                            columns=cols)

    def history(self, run_id):
        """The run's history, wide: one row per step (column "step"; a train
        run's epoch is its step), one column per metric name: its metrics
        (METRICS less epoch) and every name it logged. A name logged twice
        at a step: the later value; missing values are NaN."""
        return _wide(self.metrics(run_id), self.logs(run_id))

    def weights(self, run_id):
        """{tensor name: float32 array} in layer order (model_state order),
        PyTorch shapes; {} when the run has no stored weights."""
        self._fresh()
        if self.version == 1:
            self._v1_run(run_id)
            board = self._summary()
            hit = np.nonzero(board["run_id"] == str(run_id).encode())[0]
            if len(hit) == 0 or not bool(board["has_weights"][hit[0]]):
                return {}
            g = self._f[f"runs/{run_id}/weights"]
            items = sorted(g.items(), key=lambda kv: int(kv[1].attrs["offset"]))
            return {name: ds[()] for name, ds in items}
        _, row = self._row(run_id)
        if not bool(row["has_weights"]):
            return {}
        first, n = int(row["tensors_first"]), int(row["n_tensors"])
        table = self._dataset("tensors")[first:first + n]
        at, n_state = int(row["weights_offset"]), int(row["n_state"])
        state = self._dataset("weights")[at:at + n_state]
        out = {}
        for t in sorted(table, key=lambda t: int(t["offset"])):
            shape = tuple(int(d) for d in t["shape"][:int(t["ndim"])])
            off = int(t["offset"])
            out[_str(t["name"])] = state[off:off + int(t["n"])].reshape(shape)
        return out

    def state(self, run_id):
        """The stored weights as one float32 vector in model_state layout
        (None when the run has none)."""
        w = self.weights(run_id)
        if not w:
            return None
        return np.concatenate([a.ravel() for a in w.values()]).astype(np.float32)

    # -- every run ---------------------------------------------------------------------------
    def runs(self):
        """The leaderboard joined with each run's config: one row per run (in
        summary order), the summary's columns, then every config key that is
        not already a summary column (lists as tuples, so that they can be
        grouped on). A run whose config is missing has None there."""
        board = self.summary()
        configs = []
        for run_id in board["run_id"]:
            cfg = self.config(run_id) if self.has_run(run_id) else {}
            configs.append({k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()})
        keys = []
        for cfg in configs:
            keys.extend(k for k in cfg if k not in keys and k not in board.columns)
        extra = pd.DataFrame([{k: cfg.get(k) for k in keys} for cfg in configs],
                             index=board.index, columns=sorted(keys))
        return pd.concat([board, extra], axis=1)

    def _all(self):
        """Every run's metrics and logs of its current attempt (schema 2),
        each table read once: (board, metrics with a run column, logs long
        with a run column)."""
        board = self._summary()
        attempts = board["attempt"].astype(np.int64)
        m = self._dataset("metrics")[()]
        m = m[_in_rows(m["run"], board["metrics_first"], board["metrics_end"])]
        m = m[_counted(m["run"], m["attempt"], m["epoch"], attempts)]
        metrics = pd.DataFrame(m)[["run"] + METRICS]
        lg = self._dataset("logs")[()]
        lg = lg[_in_rows(lg["run"], board["logs_first"], board["logs_end"])]
        lg = lg[lg["attempt"] == attempts[lg["run"]]]
        keys = self._keys()
        if len(lg) and (lg["key"].min() < 0 or lg["key"].max() >= len(keys)):
            raise ResultsFileError(f"{self.path}: damaged results file: a logged value names "
                                   f"a key /log_keys lacks")
        logs = pd.DataFrame({"run": lg["run"], "step": lg["step"],
                             "name": np.array(keys, dtype=object)[lg["key"]] if len(lg) else [],
                             "value": lg["value"]})
        return board, metrics, logs

    def all_metrics(self, run_ids=None):
        """Every run's metrics (or those of run_ids) in one long DataFrame:
        the columns of metrics() with run_id and sweep in front, runs in
        summary order (or run_ids'). Each table is read once."""
        self._fresh()
        board = self.summary()
        ids = list(board["run_id"] if run_ids is None else run_ids)
        if self.version == 1:
            frames = [self.metrics(r) for r in ids]
            for r, m in zip(ids, frames):
                m.insert(0, "run_id", r)
            df = (pd.concat(frames, ignore_index=True) if frames
                  else pd.DataFrame(columns=["run_id"] + METRICS))
        else:
            _, df, _ = self._all()
            run = df.pop("run").to_numpy(dtype=np.int64)
            df.insert(0, "run_id", board["run_id"].to_numpy()[run])
            order = {r: k for k, r in enumerate(ids)}
            df = df[df["run_id"].isin(order)]
            df = df.sort_values("run_id", key=lambda c: c.map(order), kind="stable")
        df.insert(1, "sweep", df["run_id"].map(dict(zip(board["run_id"], board["sweep"]))))
        return df.reset_index(drop=True)

    def histories(self):
        """Every run's history() in one wide DataFrame: run_id, sweep, step,
        then a column per metric name (NaN where a run lacks it); runs in
        summary order, steps ascending. Each table is read once."""
        self._fresh()
        board = self.summary()
        if self.version == 1:
            df = self.all_metrics().drop(columns="sweep").rename(columns={"epoch": "step"})
        else:
            _, metrics, logs = self._all()
            df = _wide(metrics, logs, keys=("run", "step"))
            if "run" in df:
                run = df.pop("run").to_numpy(dtype=np.int64)
            df.insert(0, "run_id", board["run_id"].to_numpy()[run])
        if "run_id" not in df:
            return pd.DataFrame(columns=["run_id", "sweep", "step"])
        df.insert(1, "sweep", df["run_id"].map(dict(zip(board["run_id"], board["sweep"]))))
        return df.reset_index(drop=True)


def open_results(path, swmr=True):
    """ResultsFile(path, swmr)."""
    return ResultsFile(path, swmr)


def main(argv):
    if len(argv) != 2:
        print("usage: nnsweep_results.py RESULTS.h5", file=sys.stderr)
        return 2
    try:
        with ResultsFile(argv[1]) as r:
            df = r.summary()
            cols = ["run_id", "sweep", "kind", "status", "epochs_done", "epochs", "best_step",
                    "best_value", "best_test_accuracy", "best_val_accuracy", "wall_seconds",
                    "host", "device"]
            with pd.option_context("display.width", 200, "display.max_rows", None):
                print(df[cols].sort_values("best_value", ascending=False).to_string(index=False))
    except ResultsFileError as e:
        print(e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
