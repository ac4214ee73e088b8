#!/usr/bin/python3
"""make_fixtures.py - PyTorch reference data for the parity test (tests/unit/test_parity.c).

Usage (from the repository root):

    /usr/bin/python3 tests/make_fixtures.py [OUTDIR]        # OUTDIR defaults to tests/fixtures

It needs PyTorch (Debian 12: apt-get install python3-torch, torch 1.13, which is what made the
committed files); a `python3` without torch (e.g. a pyenv build) stops with a message saying so.
CI never runs this script: the C test reads the committed files, so CI needs no PyTorch. Rerun it
only when a case or the format changes, and commit the files it writes.

For each case the script builds the same model as nnsweep's model_plan (src/nn/model.c), with the
same layer order and tensor names (conv0.weight, conv0_bn.running_mean, fc0.weight, out.bias, ...),
and writes:

  * the run config keys that build the same model in C (JSON text for config_from_json), and the
    optimizer keys of each optimizer sequence;
  * the initial state in nnsweep's state order (every parameter in layer order, then every
    batch-norm running statistic in layer order) and the tensor list (name, offset, shape) so that
    the C side can check that its layout is the same;
  * a forward (train mode) of one batch, the logits, the loss and every parameter gradient;
  * for sgd (momentum 0.9, coupled weight decay), adam (coupled L2) and adamw (decoupled): 10 steps
    on the same batch in train mode, each step's loss, the final state (weights and batch-norm
    running statistics) and the logits of an eval-mode forward of the batch after the steps.

Inputs: one batch shared by every case (parity_batch.bin): B = 8 random uint8 images and labels.
The model input is x = (image - 128) / 64 in float32, which is exact (a power-of-two scale), so C
and PyTorch start from bit-identical inputs without storing floats.

Robust trajectories: ten steps pass ~10^5 ReLU and max-pool decisions per CNN case, and the
smallest margins are ~3e-7 of the layer's largest value, within float32 rounding of another
summation order. A decision that goes the other way moves the final state by up to ~1e-4, the C
test's tolerance (cnn_bn's sgd run with seed 105 did: weights with 1e-6 relative noise, or nnsweep
with any change to its dense layer's rounding, ended 7.8e-5 from it). So each case's run is
repeated N_TRIALS times from weights with TRIAL_NOISE relative noise, and a case whose losses,
final state or eval logits then move by more than ROBUST_FRACTION of the C test's tolerances
(step losses 1e-5, state and eval logits 1e-4; relative as the test: |d| / (1 + |ref|)) is drawn
again from the next seed (100 + case index + 1000 k). The seed used is printed.

Batch norm: gamma, beta and the running statistics start from random values near PyTorch's
defaults (1, 0, 0, 1) rather than the defaults themselves, so that a kernel which ignores gamma or
mixes up the running-statistics update cannot pass.

Dropout: masks are drawn here (torch.bernoulli of 1 - p, per element for Dropout, per (b, c) plane
for Dropout2d, then divided by 1 - p exactly as torch.nn.functional.dropout / dropout2d do it) and
applied as x * mask, which is what PyTorch's own dropout computes. They are stored as uint8 keep
flags per element of the layer's output (B, features), Dropout2d planes expanded to every element;
the scaled mask nnsweep stores is keep * mask_scale, with mask_scale = float32(1) / float32(1 - p)
(stored too). The first forward and step s of every optimizer sequence use mask set s, s = 0..9.

File format (all little-endian), one file per case, parity_<case>.bin, plus parity_batch.bin:

    magic     8 bytes  "NNSWFIX1"
    n         uint32   number of entries
    n entries, each:
      name_len  uint32, then name_len bytes of ASCII name (no NUL)
      dtype     uint32   0 = float32, 1 = int32, 2 = uint8, 3 = text (ASCII bytes, no NUL)
      ndim      uint32   1..4, then shape uint32[ndim]
      data      prod(shape) elements of dtype, packed

Entries of parity_batch.bin:
    images  uint8 (B, 3, 32, 32)          labels  int32 (B)
Entries of parity_<case>.bin:
    config          text   JSON object of run config keys (model, layers, activation, ...)
    tensors         text   one line per state tensor in state order: "name offset d0[,d1...]"
    state0          f32 (n_state)  initial state: parameters, then buffers
    logits          f32 (B, 10)    first forward, train mode, mask set 0
    loss            f32 (1)        CrossEntropyLoss (mean, the case's label_smoothing)
    grads           f32 (n_params) d loss / d parameters, parameter order of the state
    mask_scale      f32 (1)        dropout cases only
    mask.<s>.<j>    u8 (B, features of dropout layer j)  dropout cases only, s = 0..9
    <opt>.config    text   JSON object of optimizer keys (optimizer, learning_rate, ...)
    <opt>.losses    f32 (10)       loss of each step, before that step's update
    <opt>.state     f32 (n_state)  state after the 10 updates (running stats after 10 forwards)
    <opt>.eval_logits f32 (B, 10)  eval-mode forward after the 10 updates
  for each <opt> of the case's optimizer sequences (sgd, adam, adamw; see CASES).
"""

import collections
import copy
import json
import os
import struct
import sys

try:
    import torch
    import torch.nn as nn
except ImportError:
    sys.exit("make_fixtures.py needs PyTorch; run it with Debian's python3-torch:\n"
             "    /usr/bin/python3 tests/make_fixtures.py [OUTDIR]\n"
             "(the python3 first on PATH, %s, has no torch)" % sys.executable)

B = 8
N_STEPS = 10
N_TRIALS = 16
TRIAL_NOISE = 1e-6
ROBUST_FRACTION = 0.25
TOL_STEP_LOSS, TOL_STATE = 1e-5, 1e-4  # tests/unit/test_parity.c
MAGIC = b"NNSWFIX1"
DT_F32, DT_I32, DT_U8, DT_TEXT = 0, 1, 2, 3

# Optimizer sequences: torch.optim.SGD / Adam / AdamW with these keys (nnsweep config names).
OPTIMIZERS = collections.OrderedDict([
    ("sgd", {"optimizer": "sgd", "learning_rate": 0.05, "momentum": 0.9, "nesterov": False,
             "weight_decay": 5e-4}),
    ("adam", {"optimizer": "adam", "learning_rate": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8,
              "weight_decay": 1e-4}),
    ("adamw", {"optimizer": "adamw", "learning_rate": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8,
               "weight_decay": 1e-2}),
])

# The cases: name -> (run config keys, optimizer sequences). Widths are small on purpose: an MLP's
# first layer alone has 3072 * width weights, and a case stores its state 2 + (number of optimizer
# sequences) times (initial, gradients, final states); AdamW is left out of two MLP cases for size.
MLP = {"model": "mlp", "activation": "relu", "batchnorm": False, "dropout": 0.0,
       "label_smoothing": 0.0}
CNN = {"model": "cnn", "conv_layers": [4, 6], "kernel_size": 5, "padding": 0, "pool_size": 2,
       "hidden_layers": [16], "activation": "relu", "batchnorm": False, "dropout": 0.0,
       "label_smoothing": 0.0}
ALL_OPTS = {"sgd": {}, "adam": {}, "adamw": {}}
NO_ADAMW = {"sgd": {}, "adam": {}}
# Batch norm makes the gradient of the bias before it exactly zero in exact arithmetic; in float32
# it is rounding noise (up to ~3e-7 here), different in every implementation. Adam divides the
# gradient by its own magnitude, so with eps = 1e-8 it turns that noise into steps of ~lr in a
# random direction, and the final states of two correct implementations differ by up to ~6e-3
# (measured: nnsweep's cpu backend against PyTorch; the running means and eval logits follow). eps = 1e-3 bounds the effect of the noise to
# lr * 6e-7 / 1e-3 per step, ~6e-6 after 10 steps, and still tests the eps term.
BN_OPTS = {"sgd": {}, "adam": {"eps": 1e-3}, "adamw": {"eps": 1e-3}}
CASES = collections.OrderedDict([
    ("mlp", (dict(MLP, hidden_layers=[4, 8]), ALL_OPTS)),
    ("mlp_bn", (dict(MLP, hidden_layers=[4, 8], batchnorm=True), BN_OPTS)),
    ("mlp_dropout", (dict(MLP, hidden_layers=[4, 8], dropout=0.3), NO_ADAMW)),
    ("mlp_tanh_ls", (dict(MLP, hidden_layers=[2], activation="tanh", label_smoothing=0.2),
                     NO_ADAMW)),
    # 3x3 kernels with padding 1: the feature map keeps its size through each conv
    ("cnn", (dict(CNN, kernel_size=3, padding=1, hidden_layers=[8]), ALL_OPTS)),
    ("cnn_bn", (dict(CNN, batchnorm=True), BN_OPTS)),
    ("cnn_dropout", (dict(CNN, dropout=0.25), ALL_OPTS)),
    # 3x3, padding 0: 32 -> 30 -> pool 15 -> 13 -> pool 6 (floor mode drops the last row/column)
    ("cnn_gelu_ls", (dict(CNN, kernel_size=3, padding=0, activation="gelu", label_smoothing=0.1),
                     ALL_OPTS)),
])

ACTS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
        "gelu": lambda: nn.GELU(approximate="none"), "leaky_relu": lambda: nn.LeakyReLU(0.01)}


class MaskDropout(nn.Module):
    """Dropout (or Dropout2d) with a given mask: y = x * mask in train mode, as
    torch.nn.functional.dropout computes it with its own noise; identity in eval mode."""

    def __init__(self, p, two_d):
        super().__init__()
        self.p, self.two_d = p, two_d
        self.mask = None  # float32, shape of x (Dropout2d: expanded over H, W)
        self.out_shape = None

    def forward(self, x):
        self.out_shape = tuple(x.shape)
        if not self.training:
            return x
        return x * self.mask


def build(cfg):
    """The model of cfg in model_plan's layer order and names."""
    layers = collections.OrderedDict()
    C, H, W = 3, 32, 32
    act = ACTS[cfg["activation"]]
    p = cfg["dropout"]
    if cfg["model"] == "cnn":
        k, pad, pool = cfg["kernel_size"], cfg["padding"], cfg["pool_size"]
        for i, oc in enumerate(cfg["conv_layers"]):
            layers["conv%d" % i] = nn.Conv2d(C, oc, k, stride=1, padding=pad)
            C, H, W = oc, H + 2 * pad - k + 1, W + 2 * pad - k + 1
            if cfg["batchnorm"]:
                layers["conv%d_bn" % i] = nn.BatchNorm2d(C)  # eps 1e-5, momentum 0.1
            layers["conv%d_act" % i] = act()
            if pool > 1:
                layers["conv%d_pool" % i] = nn.MaxPool2d(pool, pool)  # floor mode
                H, W = H // pool, W // pool
            if p > 0:
                layers["conv%d_drop" % i] = MaskDropout(p, True)
    layers["flatten"] = nn.Flatten()  # (B, C*H*W), NCHW order, as nnsweep
    F = C * H * W
    for j, width in enumerate(cfg["hidden_layers"]):
        layers["fc%d" % j] = nn.Linear(F, width)
        F = width
        if cfg["batchnorm"]:
            layers["fc%d_bn" % j] = nn.BatchNorm1d(F)
        layers["fc%d_act" % j] = act()
        if p > 0:
            layers["fc%d_drop" % j] = MaskDropout(p, False)
    layers["out"] = nn.Linear(F, 10)
    return nn.Sequential(layers)


def state_tensors(model):
    """(name, tensor) in nnsweep's state order: parameters in layer order, then buffers."""
    params = list(model.named_parameters())
    bufs = [(n, b) for n, b in model.named_buffers() if not n.endswith("num_batches_tracked")]
    return params, bufs


def flat(ts):
    return torch.cat([t.detach().reshape(-1) for t in ts]) if ts else torch.zeros(0)


def dropouts(model):
    return [m for m in model.modules() if isinstance(m, MaskDropout)]


def draw_masks(model, x, p, gen):
    """N_STEPS mask sets: per set, per dropout layer, uint8 keep flags of the layer's output
    shape (Dropout2d: one draw per (b, c) plane, expanded)."""
    drops = dropouts(model)
    if not drops:
        return []
    m = copy.deepcopy(model).eval()
    with torch.no_grad():
        m(x)  # records each dropout layer's shape
    shapes = [d.out_shape for d in dropouts(m)]
    sets = []
    for _ in range(N_STEPS):
        s = []
        for d, shape in zip(drops, shapes):
            draw_shape = shape[:2] + (1,) * (len(shape) - 2) if d.two_d else shape
            keep = torch.bernoulli(torch.full(draw_shape, 1 - p), generator=gen)
            s.append(keep.expand(shape).contiguous())
        sets.append(s)
    return sets


def set_masks(model, keeps, p):
    for d, keep in zip(dropouts(model), keeps):
        # torch's _dropout_impl: noise.bernoulli_(1 - p).div_(1 - p); output = input * noise
        d.mask = keep.div(1 - p)


def run_steps(model0, cfg, opt_keys, x, y, masks):
    model = copy.deepcopy(model0).train()
    crit = nn.CrossEntropyLoss(label_smoothing=cfg["label_smoothing"])
    lr, wd = opt_keys["learning_rate"], opt_keys["weight_decay"]
    params = list(model.parameters())
    if opt_keys["optimizer"] == "sgd":
        opt = torch.optim.SGD(params, lr=lr, momentum=opt_keys["momentum"], dampening=0,
                              weight_decay=wd, nesterov=opt_keys["nesterov"], foreach=False)
    else:
        cls = torch.optim.Adam if opt_keys["optimizer"] == "adam" else torch.optim.AdamW
        opt = cls(params, lr=lr, betas=tuple(opt_keys["betas"]), eps=opt_keys["eps"],
                  weight_decay=wd, amsgrad=False, foreach=False)
    losses = []
    for s in range(N_STEPS):
        if masks:
            set_masks(model, masks[s], cfg["dropout"])
        opt.zero_grad(set_to_none=True)
        loss = crit(model(x), y)
        loss.backward()
        losses.append(loss.item())
        opt.step()
    p, b = state_tensors(model)
    model.eval()
    with torch.no_grad():
        eval_logits = model(x)
    return torch.tensor(losses, dtype=torch.float32), flat([t for _, t in p + b]), eval_logits


def trial_fraction(model, cfg, keys, x, y, masks, ref, seed):
    """The largest move of (losses, state, eval logits) from ref over N_TRIALS runs from model's
    weights times 1 + TRIAL_NOISE * U(-1, 1), as a fraction of the C test's tolerance."""
    gen = torch.Generator().manual_seed(seed + 2000)
    worst = 0.0
    for _ in range(N_TRIALS):
        m = copy.deepcopy(model)
        with torch.no_grad():
            for p in m.parameters():
                p.mul_(1 + TRIAL_NOISE * (2 * torch.rand(p.shape, generator=gen) - 1))
        got = run_steps(m, cfg, keys, x, y, masks)
        for g, r, tol in zip(got, ref, (TOL_STEP_LOSS, TOL_STATE, TOL_STATE)):
            worst = max(worst, ((g - r).abs() / (1 + r.abs())).max().item() / tol)
    return worst


class Writer:
    def __init__(self):
        self.entries = []

    def add(self, name, value, dtype=None):
        if isinstance(value, str):
            data, dt, shape = value.encode("ascii"), DT_TEXT, (len(value),)
        else:
            t = value.detach().contiguous()
            dt = {torch.float32: DT_F32, torch.int32: DT_I32, torch.uint8: DT_U8}[t.dtype]
            shape = tuple(t.shape) if t.dim() else (1,)
            data = t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
        self.entries.append((name, dt, shape, data))

    def write(self, path):
        out = bytearray(MAGIC + struct.pack("<I", len(self.entries)))
        for name, dt, shape, data in self.entries:
            nb = name.encode("ascii")
            out += struct.pack("<I", len(nb)) + nb
            out += struct.pack("<II", dt, len(shape)) + struct.pack("<%dI" % len(shape), *shape)
            out += data
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(out)
        os.replace(tmp, path)
        return len(out)


def config_json(keys):
    return json.dumps(keys, separators=(",", ":"), sort_keys=True)


def make_case(name, cfg, opts, x, y, seed):
    """(Writer, n_state, n_params) of the case from seed; None if an optimizer's run is not
    robust (trial_fraction)."""
    torch.manual_seed(seed)
    model = build(cfg)
    with torch.no_grad():  # batch norm away from its defaults (see the header)
        for mod in model.modules():
            if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
                mod.weight.copy_(1 + 0.2 * torch.randn_like(mod.weight))
                mod.bias.copy_(0.1 * torch.randn_like(mod.bias))
                mod.running_mean.copy_(0.1 * torch.randn_like(mod.running_mean))
                mod.running_var.copy_(1 + 0.2 * torch.rand_like(mod.running_var))
    gen = torch.Generator().manual_seed(seed + 1000)
    masks = draw_masks(model, x, cfg["dropout"], gen)

    params, bufs = state_tensors(model)
    lines, off = [], 0
    for n, t in params + bufs:
        lines.append("%s %d %s" % (n, off, ",".join(str(d) for d in t.shape)))
        off += t.numel()
    w = Writer()
    w.add("config", config_json(cfg))
    w.add("tensors", "\n".join(lines) + "\n")
    w.add("state0", flat([t for _, t in params + bufs]))

    # one forward/backward in train mode from a copy (train mode moves the running stats)
    m = copy.deepcopy(model).train()
    if masks:
        set_masks(m, masks[0], cfg["dropout"])
    logits = m(x)
    loss = nn.CrossEntropyLoss(label_smoothing=cfg["label_smoothing"])(logits, y)
    loss.backward()
    w.add("logits", logits)
    w.add("loss", loss.detach().reshape(1))
    w.add("grads", flat([p.grad for p in m.parameters()]))
    if masks:
        scale = torch.ones(1).div(1 - cfg["dropout"])
        w.add("mask_scale", scale)
        for s, keeps in enumerate(masks):
            for j, keep in enumerate(keeps):
                w.add("mask.%d.%d" % (s, j), keep.to(torch.uint8).reshape(B, -1))

    for opt, override in opts.items():
        keys = dict(OPTIMIZERS[opt], **override)
        losses, state, eval_logits = run_steps(model, cfg, keys, x, y, masks)
        frac = trial_fraction(model, cfg, keys, x, y, masks, (losses, state, eval_logits), seed)
        if frac > ROBUST_FRACTION:
            print("  %-6s seed %d: %d runs from noisy weights moved %.2f of the tolerance" %
                  (opt, seed, N_TRIALS, frac))
            return None
        w.add(opt + ".config", config_json(keys))
        w.add(opt + ".losses", losses)
        w.add(opt + ".state", state)
        w.add(opt + ".eval_logits", eval_logits)
        print("  %-6s losses %s; noisy runs %.3f of the tolerance" %
              (opt, " ".join("%.4f" % v for v in losses.tolist()), frac))
    return w, off, sum(t.numel() for _, t in params)


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "fixtures")
    if len(sys.argv) > 2 or outdir.startswith("-"):
        sys.exit("usage: /usr/bin/python3 tests/make_fixtures.py [OUTDIR]")
    os.makedirs(outdir, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)  # one summation order: reruns write identical files
    torch.set_default_dtype(torch.float32)

    gen = torch.Generator().manual_seed(20240601)
    images = torch.randint(0, 256, (B, 3, 32, 32), dtype=torch.uint8, generator=gen)
    labels = torch.randint(0, 10, (B,), dtype=torch.int32, generator=gen)
    x = (images.to(torch.float32) - 128) / 64  # exact in float32
    y = labels.to(torch.int64)
    w = Writer()
    w.add("images", images)
    w.add("labels", labels)
    total = w.write(os.path.join(outdir, "parity_batch.bin"))

    for i, (name, (cfg, opts)) in enumerate(CASES.items()):
        print("%s: %s" % (name, config_json(cfg)))
        for k in range(10):
            made = make_case(name, cfg, opts, x, y, seed=100 + i + 1000 * k)
            if made:
                break
        if not made:
            sys.exit("%s: no robust seed in 10 tries" % name)
        w, n_state, n_params = made
        print("  seed %d" % (100 + i + 1000 * k))
        size = w.write(os.path.join(outdir, "parity_%s.bin" % name))
        total += size
        print("  %d params, %d state floats, %d bytes" % (n_params, n_state, size))
    print("total %d bytes in %s" % (total, outdir))


if __name__ == "__main__":
    main()
