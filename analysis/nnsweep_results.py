"""nnsweep_results - the one Python reader of nnsweep results files.

The schema (version 1) is documented at the top of include/nnsweep/results.h.
Files that a writer has open (a sweep is running, or its writer was
killed) are opened with SWMR read (h5py.File(p, "r", libver="latest",
swmr=True)); others plainly, because HDF5's SWMR reader retries a metadata
read that fails its checksum with a doubling sleep: on a damaged file that
hangs instead of failing (a damaged file that a writer still has open can
still hang a reader). Every method re-reads (refreshes) what it returns,
and reopens the file when a writer has replaced it (its structural phase
ends with a rename), so a long-lived ResultsFile follows a running or
resumed sweep.

    from nnsweep_results import ResultsFile
    with ResultsFile("results.h5") as r:
        board = r.summary()                       # one row per run
        best = board[board.status == "done"].sort_values("best_test_accuracy").iloc[-1]
        curves = r.metrics(best.run_id)           # one row per epoch
        cfg = r.config(best.run_id)               # dict
        w = r.weights(best.run_id)                # {"fc0.weight": ndarray, ...}
        runs = r.runs()                           # summary + every config key
        every = r.all_metrics()                   # every run's epochs, long form

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
SCHEMA_VERSION = 1

__all__ = ["ResultsFile", "ResultsFileError", "FORMAT", "SCHEMA_VERSION", "open_results"]


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


class ResultsFile:
    """An open results file (read-only). Use as a context manager or call
    close()."""

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
        if version != SCHEMA_VERSION:
            raise ResultsFileError(
                f"{self.path}: results schema version {version}; this reader reads version "
                f"{SCHEMA_VERSION}")
        for name in ("summary", "sweeps", "runs"):
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

    def _run(self, run_id):
        run_id = str(run_id)
        if "/" in run_id or run_id not in self._f["runs"]:
            raise KeyError(f"{self.path}: no run {run_id!r}")
        return self._f["runs"][run_id]

    @property
    def attrs(self):
        """Root attributes: format, schema_version, nnsweep_version, dataset."""
        return {k: (_str(v) if isinstance(v, (bytes, str, np.bytes_)) else v.item()
                    if hasattr(v, "item") else v) for k, v in self._f.attrs.items()}

    # -- the API -----------------------------------------------------------------
    def summary(self):
        """The leaderboard: one row per run (DataFrame, strings decoded)."""
        self._fresh()
        return _decode_frame(self._dataset("summary")[()])

    def sweeps(self):
        """One row per sweep: name, method, metric, goal, spec (YAML text),
        overrides (the command-line overrides it was loaded with, "" when
        none: spec + overrides reproduce the sweep)."""
        self._fresh()
        cols = ["method", "metric", "goal", "spec", "overrides"]
        rows = []
        for name, g in self._f["sweeps"].items():
            if not isinstance(g, h5py.Group):  # a link that no longer resolves
                raise ResultsFileError(
                    f"{self.path}: damaged results file: /sweeps/{name} cannot be read")
            rows.append({"name": name, **{k: _str(g.attrs.get(k, "")) for k in cols}})
        return pd.DataFrame(rows, columns=["name"] + cols)

    def has_run(self, run_id):
        """Whether run run_id has its group /runs/<id> (that resolves): every
        run of the summary in a sound file; a damaged one may lack some."""
        self._fresh()
        run_id = str(run_id)
        return "/" not in run_id and run_id in self._f["runs"]

    def config(self, run_id):
        """The run's config as a dict (from its canonical JSON). KeyError for
        an unknown run; ResultsFileError when the stored config cannot be
        read or is not JSON (a damaged file)."""
        self._fresh()
        g = self._run(run_id)
        try:
            text = _str(g.attrs["config"])
        except (KeyError, OSError, RuntimeError) as e:
            raise ResultsFileError(
                f"{self.path}: damaged results file: run {run_id}: cannot read its config "
                f"({_h5_message(e)})") from e
        try:
            return json.loads(text)
        except ValueError as e:
            raise ResultsFileError(
                f"{self.path}: damaged results file: run {run_id}: its config is not JSON "
                f"({e})") from e

    def metrics(self, run_id):
        """One row per epoch (epoch 0 = before training). A trailing row whose
        epoch is not its index is an append in flight when a writer died:
        left out."""
        self._fresh()
        self._run(run_id)
        arr = self._dataset(f"runs/{run_id}/metrics")[()]
        n = len(arr)
        while n > 0 and arr["epoch"][n - 1] != n - 1:
            n -= 1
        return pd.DataFrame(arr[:n])

    def weights(self, run_id):
        """{tensor name: float32 array} in layer order (model_state order),
        PyTorch shapes; {} when the run has no stored weights."""
        self._fresh()
        self._run(run_id)
        board = self._dataset("summary")[()]
        hit = np.nonzero(board["run_id"] == str(run_id).encode())[0]
        if len(hit) == 0 or not bool(board["has_weights"][hit[0]]):
            return {}
        g = self._f[f"runs/{run_id}/weights"]
        items = sorted(g.items(), key=lambda kv: int(kv[1].attrs["offset"]))
        return {name: ds[()] for name, ds in items}

    def runs(self):
        """The leaderboard joined with each run's config: one row per run (in
        summary order), the summary's columns, then every config key that is
        not already a summary column (lists as tuples, so that they can be
        grouped on). A run whose group is missing has None there."""
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

    def all_metrics(self, run_ids=None):
        """Every run's metrics (or those of run_ids) in one long DataFrame:
        the columns of metrics() with run_id and sweep in front."""
        board = self.summary()
        sweep_of = dict(zip(board["run_id"], board["sweep"]))
        frames = []
        for run_id in (board["run_id"] if run_ids is None else run_ids):
            m = self.metrics(run_id)
            m.insert(0, "sweep", sweep_of.get(run_id, ""))
            m.insert(0, "run_id", run_id)
            frames.append(m)
        if not frames:
            return pd.DataFrame(columns=["run_id", "sweep", "epoch"])
        return pd.concat(frames, ignore_index=True)

    def state(self, run_id):
        """The stored weights as one float32 vector in model_state layout
        (None when the run has none)."""
        w = self.weights(run_id)
        if not w:
            return None
        g = self._f[f"runs/{run_id}/weights"]
        out = np.zeros(int(g.attrs["n_state"]), dtype=np.float32)
        for name, arr in w.items():
            off = int(g[name].attrs["offset"])
            out[off:off + arr.size] = arr.ravel()
        return out


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
            cols = ["run_id", "sweep", "status", "epochs_done", "epochs", "best_epoch",
                    "best_test_accuracy", "best_val_accuracy", "wall_seconds", "host", "device"]
            with pd.option_context("display.width", 200, "display.max_rows", None):
                print(df[cols].sort_values("best_test_accuracy", ascending=False).to_string(
                    index=False))
    except ResultsFileError as e:
        print(e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
