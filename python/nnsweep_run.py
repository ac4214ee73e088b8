"""nnsweep_run - a Python program's side of nnsweep's channel.

A program that nnsweep starts for a run of a program sweep (a W&B sweep
file with `program:`) reports its metrics through this module:

    import nnsweep_run as run

    cfg = run.config                      # the run's parameters, a dict
    for epoch in range(cfg.get("epochs", 10)):
        ...
        run.log({"epoch": epoch, "val_loss": v, "val_acc": a})
    run.summary({"test_acc": t})          # values for the whole run
    run.artifact("checkpoints/best.pt", name="best")

Nothing to install: nnsweep puts this file's folder first on the PYTHONPATH
of every program it starts (standard library only, Python 3.6+). Outside
nnsweep (no NNSWEEP_FD in the environment) every call checks its arguments
and sends nothing, so the script also runs on its own; `active` says which.

Each call writes one line of JSON to the channel at once (no buffering), so
a row is in nnsweep's results file within a second. The wire format, for
programs in other languages, is in include/nnsweep/program.h:
    {"log": {"val_loss": 0.52}, "step": 3}
    {"summary": {"test_acc": 0.91}}
    {"artifact": "/abs/path/best.pt", "name": "best"}

Attributes:
    config   dict   the run's parameters (nested groups as dicts): what
                    W&B's agent would pass as ${args_json}; {} outside nnsweep
    run_id   str    the run's id (None outside nnsweep)
    sweep    str    the sweep's name (None outside nnsweep)
    dir      str    the run's own directory, for checkpoints (None outside)
    threads  int    CPU threads this run may use (None when not said)
    active   bool   a channel to nnsweep is open
"""

import json
import os
import sys
import threading

__all__ = ["config", "run_id", "sweep", "dir", "threads", "active", "log", "summary",
           "artifact"]

NAME_MAX = 63  # bytes of UTF-8 in a metric's name (nnsweep's results file)

config = json.loads(os.environ["NNSWEEP_CONFIG"]) if os.environ.get("NNSWEEP_CONFIG") else {}
run_id = os.environ.get("NNSWEEP_RUN_ID")
sweep = os.environ.get("NNSWEEP_SWEEP")
dir = os.environ.get("NNSWEEP_RUN_DIR")  # noqa: A001 (the run's directory)
threads = int(os.environ["NNSWEEP_THREADS"]) if os.environ.get("NNSWEEP_THREADS") else None

_fd = None
if os.environ.get("NNSWEEP_FD"):
    try:
        _fd = int(os.environ["NNSWEEP_FD"])
        os.fstat(_fd)
    except (ValueError, OSError):
        # a process that did not inherit the channel (a subprocess started
        # with close_fds, say): it reports nothing rather than fail
        sys.stderr.write("nnsweep_run: NNSWEEP_FD=%s is not an open file descriptor in this "
                         "process: nothing will be reported from it\n"
                         % os.environ["NNSWEEP_FD"])
        _fd = None
active = _fd is not None

_lock = threading.Lock()
_last_step = -1


def _name(name, what):
    if not isinstance(name, str):
        raise TypeError("nnsweep_run.%s: a name must be a str, found %r" % (what, name))
    b = name.encode("utf-8")
    if not b or len(b) > NAME_MAX or any(c < 0x20 or c == 0x7F for c in b):
        raise ValueError("nnsweep_run.%s: a name must have 1 to %d bytes of UTF-8 without "
                         "control characters, found %r" % (what, NAME_MAX, name))
    if name == "step":
        raise ValueError("nnsweep_run.%s: \"step\" is not a metric's name (give the step "
                         "with step=)" % what)
    return name


def _number(name, value, what):
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    try:
        x = float(value)  # floats, numpy scalars, 0-d tensors
    except (TypeError, ValueError):
        raise TypeError("nnsweep_run.%s: %s: expected a number, found %r"
                        % (what, name, value)) from None
    return x


def _values(values, what):
    if not isinstance(values, dict) or not values:
        raise TypeError("nnsweep_run.%s: expected a non-empty dict of named numbers, found %r"
                        % (what, values))
    return {_name(k, what): _number(k, v, what) for k, v in values.items()}


def _send(obj):
    if _fd is None:
        return
    line = (json.dumps(obj, allow_nan=True) + "\n").encode("utf-8")
    view = memoryview(line)
    while view:  # one write(2) for lines up to the pipe's atomic size
        try:
            n = os.write(_fd, view)
        except BrokenPipeError:
            raise BrokenPipeError("nnsweep_run: nnsweep's channel is closed (the worker that "
                                  "started this program is gone)") from None
        view = view[n:]


def log(values, step=None):
    """Logs one row: values (a dict of name -> number) at step (an int >= 0
    greater than the previous row's; default: the previous step + 1, the
    first row's 0)."""
    global _last_step
    row = _values(values, "log")
    with _lock:
        if step is None:
            step = _last_step + 1
        if isinstance(step, bool) or not isinstance(step, int):
            try:
                if float(step) != int(step):
                    raise ValueError
                step = int(step)
            except (TypeError, ValueError, OverflowError):
                raise TypeError("nnsweep_run.log: step must be an integer, found %r"
                                % (step,)) from None
        if step < 0 or step <= _last_step:
            raise ValueError("nnsweep_run.log: step %d: steps must grow (the previous row's was "
                             "%d)" % (step, _last_step))
        _send({"log": row, "step": step})
        _last_step = step


def summary(values):
    """Records numbers that describe the whole run (W&B's run.summary); a
    name given again replaces its value."""
    row = _values(values, "summary")
    with _lock:
        _send({"summary": row})


def artifact(path, name=None):
    """Points to a file the program saved (a checkpoint): its absolute path
    is recorded with the run (the file stays where it is)."""
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise TypeError("nnsweep_run.artifact: expected a file's path, found %r" % (path,))
    msg = {"artifact": os.path.abspath(os.fspath(path))}
    if name is not None:
        if not isinstance(name, str) or not name:
            raise TypeError("nnsweep_run.artifact: name must be a non-empty str, found %r"
                            % (name,))
        msg["name"] = name
    with _lock:
        _send(msg)
