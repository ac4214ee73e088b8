"""study - the data layer of analysis/report.py: a results file read into a
Study (through nnsweep_results, the one reader of the schema), and the
groups of runs that each report section compares.

Which runs a section compares is decided from the runs' configs (the
"relevant" config: relevant_config), never from sweep names. The selection
functions return plain data (DataFrames, dicts, lists) and draw nothing:
figures.py draws what they select, report.py writes the tables and the page.
Needs Debian's python3-h5py, python3-numpy and python3-pandas.
"""

import datetime
import json
import math
import os
import subprocess

import numpy as np
import pandas as pd

from nnsweep_results import ResultsFile, ResultsFileError

UNFINISHED = ("pending", "running")  # statuses of runs not yet ended
# Config keys that never make two runs different experiments.
IGNORED_KEYS = {"device", "save_weights_min_accuracy"}
CNN_ONLY_KEYS = {"conv_layers", "kernel_size", "padding", "pool_size"}
ADAM_ONLY_KEYS = {"betas", "eps"}
SGD_ONLY_KEYS = {"momentum", "nesterov"}
STEP_ONLY_KEYS = {"lr_step_epochs", "lr_gamma"}
IMPLIED_KEYS = ADAM_ONLY_KEYS | SGD_ONLY_KEYS | STEP_ONLY_KEYS
# The per-epoch metric columns that the training curves show, with their names.
CURVE_PANELS = [("train_loss", "train loss"), ("val_loss", "val loss"),
                ("test_loss", "test loss"), ("train_accuracy", "train accuracy"),
                ("val_accuracy", "val accuracy"), ("test_accuracy", "test accuracy"),
                ("top_accuracy", "top (best so far) accuracy")]


class ReportInputError(Exception):
    """The results file cannot be read (missing, foreign, damaged)."""


# ---------------------------------------------------------------------------
# Config values
# ---------------------------------------------------------------------------

def plain(v):
    """A config value as a plain, hashable Python value."""
    if isinstance(v, (list, tuple, np.ndarray)):
        return tuple(plain(x) for x in v)
    if isinstance(v, np.generic):
        return v.item()
    return v


def relevant_config(cfg):
    """The keys of a config that make it a different experiment: without the
    device and weight-saving threshold, CNN-only keys of an MLP, Adam-only
    keys of SGD (and back), the step schedule's keys of other schedules."""
    drop = set(IGNORED_KEYS)
    if cfg.get("model") != "cnn":
        drop |= CNN_ONLY_KEYS
    if cfg.get("optimizer") == "sgd":
        drop |= ADAM_ONLY_KEYS
    else:
        drop |= SGD_ONLY_KEYS
    if cfg.get("lr_schedule") != "step":
        drop |= STEP_ONLY_KEYS
    return {k: v for k, v in cfg.items() if k not in drop}


def fmt(v):
    """A config value as short text: 0.05, [256,256], true, relu."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, tuple):
        return "[" + ",".join(fmt(x) for x in v) + "]"
    return str(v)


def value_sort_key(v):
    """Orders config values: numbers by value, then lists, then names."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return (0, float(v), "")
    if isinstance(v, tuple):
        return (1, float(len(v)), fmt(v))
    return (2, 0.0, fmt(v))


def varying_keys(rels, drop=()):
    """Keys whose value differs between the configs rels (sorted), leaving
    out keys that only some of them have because another key (optimizer,
    lr_schedule) differs."""
    keys = set()
    for r in rels:
        keys |= set(r)
    out = []
    for k in sorted(keys - set(drop)):
        vals = {plain(r.get(k)) for r in rels}
        if len(vals) > 1 and not (k in IMPLIED_KEYS and None in vals):
            out.append(k)
    return out


def label(rel, keys):
    """Short text for a config among others that differ in keys."""
    parts = []
    for k in keys:
        v = rel.get(k)
        if k == "optimizer":
            parts.append({"sgd": "SGD", "adam": "Adam", "adamw": "AdamW"}.get(v, fmt(v)))
        elif k == "batchnorm":
            parts.append("batch norm" if v else "no batch norm")
        elif k == "depth":
            parts.append(f"{v} layer{'s' if v != 1 else ''}")
        else:
            parts.append(f"{k}={fmt(v)}")
    return ", ".join(parts) if parts else "all runs"


def group_key(rel, drop):
    return tuple(sorted((k, v) for k, v in rel.items() if k not in drop))


def is_finite(v):
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------

def is_missing(v):
    """A config value that the run does not have (None or NaN)."""
    return v is None or (isinstance(v, float) and math.isnan(v))


def _provisional_best(m, select_on):
    """(test accuracy, epoch) at the epoch the select_on metric picks among
    the rows written so far; (nan, -1) when there is none."""
    col = "val_accuracy" if select_on == "val_accuracy" else "test_accuracy"
    if m is None or len(m) == 0 or col not in m:
        return math.nan, -1
    v = m[col].to_numpy(dtype=float)
    if not np.isfinite(v).any():
        return math.nan, -1
    i = int(np.nanargmax(np.where(np.isfinite(v), v, -np.inf)))
    return float(m["test_accuracy"].iloc[i]), int(m["epoch"].iloc[i])


class Study:
    """Everything the report shows, read from one results file (in memory;
    the file is closed). runs: one row per run (summary columns, config
    columns, and family, depth, width, arch, rel (the relevant config as a
    dict), acc, acc_epoch, provisional, n_rows); metrics: run_id -> per
    epoch DataFrame (None for a run without its group); config_keys: the
    config columns of runs."""

    def __init__(self, path, attrs, sweeps, runs, metrics, config_keys, read_at):
        self.path = path
        self.attrs = attrs
        self.sweeps = sweeps
        self.runs = runs
        self.metrics = metrics
        self.config_keys = config_keys
        self.read_at = read_at

    @property
    def n_unfinished(self):
        return int(self.runs["status"].isin(UNFINISHED).sum())


def _arch(row):
    hidden = row.get("hidden_layers")
    hidden = "-".join(str(w) for w in hidden) if isinstance(hidden, tuple) and hidden else "none"
    if row.get("model") == "cnn":
        conv = row.get("conv_layers")
        conv = "-".join(str(w) for w in conv) if isinstance(conv, tuple) else "?"
        return (f"CNN conv {conv} k{row.get('kernel_size')} p{row.get('padding')} "
                f"pool{row.get('pool_size')}, fc {hidden}")
    if row.get("model") == "mlp":
        return f"MLP fc {hidden}"
    return "?"


def _width_label(layers):
    if not layers:
        return "0"
    if all(w == layers[0] for w in layers):
        return str(layers[0])
    return "-".join(str(w) for w in layers)


def load(path):
    """Reads path (SWMR read) into a Study. Raises ReportInputError with a
    one-line message naming the file when it is missing, not an nnsweep
    results file or cannot be read."""
    if not os.path.exists(path):
        raise ReportInputError(f"{path}: no such file")
    if os.path.isdir(path):
        raise ReportInputError(f"{path}: is a directory, not a results file")
    try:
        with ResultsFile(path) as r:
            attrs = r.attrs
            sweeps = r.sweeps()
            runs = r.runs()
            summary_cols = set(r.summary().columns)
            metrics = {run_id: r.metrics(run_id) if r.has_run(run_id) else None
                       for run_id in runs["run_id"]}
    except ResultsFileError as e:
        raise ReportInputError(str(e)) from e
    except (OSError, KeyError, ValueError, TypeError, RuntimeError, IndexError,
            AttributeError) as e:
        # h5py's errors on a damaged file (KeyError quotes its message; an
        # unresolvable link reads as None)
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        msg = str(msg).strip().splitlines()[0] if str(msg).strip() else type(e).__name__
        raise ReportInputError(f"{path}: damaged results file: {msg}") from e
    read_at = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    config_keys = [c for c in runs.columns if c not in summary_cols] + ["epochs"]
    config_keys = sorted(set(config_keys))

    derived = {k: [] for k in ("family", "depth", "width", "arch", "cfg", "rel", "acc",
                               "acc_epoch", "provisional", "n_rows")}
    for _, row in runs.iterrows():
        cfg = {k: plain(row[k]) for k in config_keys
               if k in row and not is_missing(plain(row[k]))}
        family = cfg.get("model", "unknown")
        layers = cfg.get("conv_layers" if family == "cnn" else "hidden_layers", ())
        m = metrics.get(row["run_id"])
        derived["family"].append(family)
        derived["depth"].append(len(layers) if isinstance(layers, tuple) else -1)
        derived["width"].append(_width_label(layers) if isinstance(layers, tuple) else "?")
        derived["arch"].append(_arch(cfg))
        derived["cfg"].append(cfg)
        derived["rel"].append(relevant_config(cfg) if "model" in cfg else {})
        derived["n_rows"].append(0 if m is None else len(m))
        acc, ep = float(row["best_test_accuracy"]), int(row["best_epoch"])
        prov = False
        if not math.isfinite(acc):
            acc, ep = _provisional_best(m, cfg.get("select_on"))
            prov = math.isfinite(acc)
        derived["acc"].append(acc)
        derived["acc_epoch"].append(ep)
        derived["provisional"].append(prov)
    for k, v in derived.items():
        runs[k] = v if len(runs) else pd.Series([], dtype=object)
    return Study(path, attrs, sweeps, runs, metrics, config_keys, read_at)


# ---------------------------------------------------------------------------
# Groups of runs, per report section
# ---------------------------------------------------------------------------

def sweep_order(st):
    names = list(st.sweeps["name"]) if len(st.sweeps) else []
    for s in st.runs["sweep"]:
        if s not in names:
            names.append(s)
    return names


def families(st):
    """The model families in the runs: mlp, cnn, then any other."""
    fams = [f for f in ("mlp", "cnn") if (st.runs["family"] == f).any()]
    return fams + sorted(set(st.runs["family"]) - {"mlp", "cnn", "unknown"})


def layers_key(family):
    return "conv_layers" if family == "cnn" else "hidden_layers"


def best_runs(st):
    """One row per sweep (in sweep order): its run with the highest acc
    (finished runs first; a running one only when none has finished)."""
    rows = []
    for sweep in sweep_order(st):
        r = st.runs[(st.runs["sweep"] == sweep) & st.runs["acc"].map(is_finite)]
        if r.empty:
            continue
        done = r[~r["provisional"]]
        pick = done if not done.empty else r
        rows.append(pick.loc[pick["acc"].idxmax()])
    return pd.DataFrame(rows) if rows else st.runs.iloc[0:0]


def curve_sets(st):
    """Per sweep, in sweep order: (sweep, None) when no run has written an
    epoch yet, else (sweep, set) with set a dict: runs (those with epochs),
    ckey (the key that colours the lines: the learning rate, else the first
    key that varies), vary (the keys that vary, seed aside), panels (the
    CURVE_PANELS entries with data)."""
    out = []
    for sweep in sweep_order(st):
        runs = st.runs[(st.runs["sweep"] == sweep) & (st.runs["n_rows"] > 0)]
        if runs.empty:
            out.append((sweep, None))
            continue
        vary = varying_keys(list(runs["rel"]), drop=("seed",))
        ckey = "learning_rate" if ("learning_rate" in vary or not vary) else vary[0]
        panels = [(col, title) for col, title in CURVE_PANELS
                  if any(np.isfinite(st.metrics[i][col].to_numpy(dtype=float)).any()
                         for i in runs["run_id"])]
        out.append((sweep, dict(runs=runs, ckey=ckey, vary=vary, panels=panels)))
    return out


def lr_lines(st, family):
    """The settings of a model family (every relevant key but the learning
    rate, the seed and the layer widths; "depth" for the layer count) that
    were trained with two or more learning rates, best first: dicts rel and
    acc ({learning rate: best test accuracy})."""
    done = st.runs[st.runs["acc"].map(is_finite)]
    runs = done[done["family"] == family]
    lk = layers_key(family)
    groups = {}
    for _, run in runs.iterrows():
        rel = dict(run["rel"])
        rel["depth"] = len(rel.pop(lk, ()))
        key = group_key(rel, drop=("learning_rate", "seed"))
        groups.setdefault(key, {"rel": rel, "acc": {}})
        lr = rel.get("learning_rate")
        g = groups[key]["acc"]
        g[lr] = max(g.get(lr, -1.0), run["acc"])
    lines = [g for g in groups.values() if len(g["acc"]) >= 2]
    lines.sort(key=lambda g: -max(g["acc"].values()))
    return lines


def size_drop(family):
    """The keys a depth x width grid of family is taken over."""
    return ({"learning_rate", "seed", layers_key(family)}
            | ({"padding"} if family == "cnn" else set()))


def size_groups(st, family):
    """The settings of a model family (all keys but size_drop(family)) with
    two or more depths and two or more widths: dicts rel and cells
    ({(depth, width label): best test accuracy})."""
    done = st.runs[st.runs["acc"].map(is_finite)]
    runs = done[done["family"] == family]
    drop = size_drop(family)
    groups = {}
    for _, run in runs.iterrows():
        key = group_key(run["rel"], drop)
        g = groups.setdefault(key, {"rel": run["rel"], "cells": {}})
        cell = (run["depth"], run["width"])
        g["cells"][cell] = max(g["cells"].get(cell, -1.0), run["acc"])
    return [g for g in groups.values()
            if len({c[0] for c in g["cells"]}) >= 2 and len({c[1] for c in g["cells"]}) >= 2]


def regularizer_sweeps(st, key):
    """The sweeps whose runs (with epochs) take two or more values of key:
    dicts sweep, runs, best ({value: best test accuracy}, values in order)
    and other (the keys that also vary, seed aside)."""
    out = []
    for sweep in sweep_order(st):
        runs = st.runs[(st.runs["sweep"] == sweep) & (st.runs["n_rows"] > 0)]
        vals = {r.get(key) for r in runs["rel"]} - {None}
        if len(vals) < 2:
            continue
        best = {}
        for _, run in runs.iterrows():
            if is_finite(run["acc"]):
                v = run["rel"].get(key)
                best[v] = max(best.get(v, -1.0), run["acc"])
        best = {v: best[v] for v in sorted(best, key=value_sort_key)}
        out.append(dict(sweep=sweep, runs=runs, best=best,
                        other=varying_keys(list(runs["rel"]), drop=(key, "seed"))))
    return out


def variant_name(rel):
    """"SGD", "SGD momentum 0.9 + BN", "Adam", ...: optimizer and batch norm."""
    opt = rel.get("optimizer", "?")
    name = "SGD" if opt == "sgd" else {"adam": "Adam", "adamw": "AdamW"}.get(opt, str(opt))
    if opt == "sgd" and rel.get("momentum", 0):
        name += f" momentum {fmt(rel['momentum'])}"
    if rel.get("batchnorm"):
        name += " + BN"
    return name


def optim_groups(st, family):
    """The architectures of a model family (every setting but optimizer,
    batch norm, learning rate and seed equal) trained with plain SGD and
    with batch norm and/or Adam, most runs first: dicts arch, n_runs and
    variants (plain SGD first, then by name), each a dict name, best (its
    best run's row), acc ({learning rate: best test accuracy}) and metrics
    (the best run's epochs, or None)."""
    done = st.runs[st.runs["acc"].map(is_finite)]
    drop = {"optimizer", "batchnorm", "learning_rate", "seed"} | ADAM_ONLY_KEYS | SGD_ONLY_KEYS
    runs = done[done["family"] == family]
    groups = {}
    for _, run in runs.iterrows():
        groups.setdefault(group_key(run["rel"], drop), []).append(run)
    ok = [rows for rows in groups.values()
          if len({variant_name(r["rel"]) for r in rows}) >= 2
          and "SGD" in {variant_name(r["rel"]) for r in rows}]
    ok.sort(key=lambda rows: -len(rows))
    out = []
    for rows in ok:
        by_var = {}
        for r in rows:
            by_var.setdefault(variant_name(r["rel"]), []).append(r)
        variants = []
        for v in sorted(by_var, key=lambda v: (v != "SGD", v)):
            acc = {}
            for r in by_var[v]:
                lr = r["rel"].get("learning_rate")
                acc[lr] = max(acc.get(lr, -1.0), r["acc"])
            best = max(by_var[v], key=lambda r: r["acc"])
            variants.append(dict(name=v, best=best, acc=acc, metrics=st.metrics[best["run_id"]]))
        out.append(dict(arch=rows[0]["arch"], n_runs=len(rows), variants=variants))
    return out


def pareto(cost, acc):
    """Indices of the runs that no other run beats (cost <= and acc >=,
    one strictly), by increasing cost."""
    order = np.lexsort((-acc, cost))
    front, best = [], -np.inf
    for i in order:
        if acc[i] > best:
            front.append(i)
            best = acc[i]
    return front


def cost_runs(st):
    """The finished runs with a test accuracy, a time and a size (for the
    accuracy-against-cost figure), and the number of unfinished runs with
    a provisional accuracy left out."""
    r = st.runs[st.runs["acc"].map(is_finite) & ~st.runs["provisional"]
                & (st.runs["wall_seconds"] > 0) & (st.runs["n_params"] > 0)]
    n_left = int((st.runs["acc"].map(is_finite) & st.runs["provisional"]).sum())
    return r, n_left


def seed_groups(st):
    """{sweep: [(rel without seed, [run rows])]} for configs that a sweep
    ran with two or more seeds (runs with a test accuracy)."""
    out = {}
    for sweep in sweep_order(st):
        runs = st.runs[(st.runs["sweep"] == sweep) & st.runs["acc"].map(is_finite)]
        groups = {}
        for _, run in runs.iterrows():
            key = group_key(run["rel"], drop=("seed",))
            groups.setdefault(key, []).append(run)
        rep = [(dict(k), rows) for k, rows in groups.items()
               if len({r["rel"].get("seed") for r in rows}) >= 2]
        if rep:
            out[sweep] = rep
    return out


def seed_curve(st, rows):
    """Test accuracy per epoch over the runs rows (seeds of one config):
    a DataFrame indexed by epoch with mean and std (0 where one run), or
    None when none has epochs."""
    frames = [st.metrics[r["run_id"]][["epoch", "test_accuracy"]] for r in rows
              if st.metrics[r["run_id"]] is not None]
    if not frames:
        return None
    c = pd.concat(frames).groupby("epoch")["test_accuracy"].agg(["mean", "std"])
    c["std"] = c["std"].fillna(0.0)
    return c


def class_runs(st):
    """The finished runs with stored weights and a test accuracy; per model
    family the best of them is what the per-class section evaluates."""
    return st.runs[(st.runs["status"] == "done") & st.runs["has_weights"].astype(bool)
                   & st.runs["acc"].map(is_finite)]


def evaluate_run(nnsweep, path, run_id, data=None, timeout=600):
    """`nnsweep evaluate path run_id --json [--data data]` as a dict.
    RuntimeError with nnsweep's one-line message when it fails."""
    cmd = [nnsweep, "evaluate", path, run_id, "--json"] + (["--data", data] if data else [])
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise RuntimeError(f"{nnsweep}: {e}") from e
    if p.returncode != 0:
        msg = (p.stderr.strip().splitlines() or [f"exit {p.returncode}"])[-1]
        raise RuntimeError(msg)
    try:
        return json.loads(p.stdout)
    except ValueError as e:
        raise RuntimeError(f"nnsweep evaluate printed no JSON ({e})") from e


def run_metric(st, row, metric):
    """The sweep metric of a run (include/nnsweep/sweep.h, Metric): its value
    at the run's best epoch, from the summary for val and test accuracy,
    else from the run's metrics row of that epoch; nan when there is none."""
    ep = int(row["best_epoch"])
    if ep < 0:
        return math.nan
    if metric in ("test_accuracy", "val_accuracy"):
        return float(row["best_" + metric])
    m = st.metrics.get(row["run_id"])
    if m is None or metric not in m:
        return math.nan
    at = m[m["epoch"] == ep]
    return float(at[metric].iloc[0]) if len(at) else math.nan


def search_sets(st):
    """Per sweep that searches (method random or bayes) or has runs stopped
    by its stopping rule, in sweep order, with two or more finished runs: a
    dict with sweep, method, metric, goal; runs: its finished runs in the
    file's order (the order a search proposed them) with value (run_metric)
    and best (the best value so far, by goal); curves: per finished run
    (epochs, values of the metric per epoch 1.., status) for the early-stop
    panel; stopped: the number of runs that its stopping rule ended."""
    out = []
    sweeps = st.sweeps.set_index("name") if len(st.sweeps) else None
    for sweep in sweep_order(st):
        if sweeps is None or sweep not in sweeps.index:
            continue
        info = sweeps.loc[sweep]
        runs = st.runs[(st.runs["sweep"] == sweep) & ~st.runs["status"].isin(UNFINISHED)
                       & (st.runs["status"] != "interrupted")]
        n_stopped = int((runs["status"] == "stopped").sum())
        if len(runs) < 2 or (info["method"] not in ("random", "bayes") and not n_stopped):
            continue
        metric, goal = info["metric"], info["goal"]
        values = [run_metric(st, r, metric) for _, r in runs.iterrows()]
        best, cur = [], math.nan
        for v in values:
            if math.isfinite(v) and (not math.isfinite(cur) or
                                     (v < cur if goal == "minimize" else v > cur)):
                cur = v
            best.append(cur)
        curves = []
        for _, r in runs.iterrows():
            m = st.metrics.get(r["run_id"])
            if m is None or metric not in m:
                continue
            m = m[m["epoch"] >= 1]
            curves.append((m["epoch"].to_numpy(int), m[metric].to_numpy(float), r["status"]))
        out.append(dict(sweep=sweep, method=info["method"], metric=metric, goal=goal,
                        runs=runs.assign(value=values, best=best), curves=curves,
                        stopped=n_stopped))
    return out
