#!/usr/bin/env python3
"""The PyTorch peer of bench_train: the same models, the same step (forward,
cross-entropy, backward, SGD update), data already in memory as normalized
float tensors, a fixed number of threads. Prints `CASE train_ips eval_ips`
lines like bench_train.

usage: /usr/bin/python3 bench/torch_bench.py [--threads N] [--seconds S]
           [--batch B] [--eval-batch B] [--train-only | --eval-only]
           [--device cpu|cuda] [--precision fp32|tf32|bf16] CASE...
(0 for a pass that was not measured.) --device cuda runs as nnsweep's cuda
backend does: cuDNN's heuristics (cudnn.benchmark off), TF32 only with
--precision tf32, bf16 autocast with --precision bf16; the clock is read
after a synchronize.
(Debian's python3-torch; `scripts/install-deps.sh --torch` installs it.)
"""
import argparse
import time

import torch
import torch.nn as nn

N_IMAGES = 4096


def build(case):
    bn = "_bn" in case
    p = 0.2 if "_dropout" in case else 0.0
    layers = []
    if case.startswith("mlp"):
        width, n_in = [256, 256, 256], 3 * 32 * 32
        layers.append(nn.Flatten())
    else:
        # cnnDxC: D conv layers of C channels, padding 0 for D = 2, else 3
        # (the seed study's ConvNet_2 and ConvNet_3/5), as bench_train
        conv, ch = (int(v) for v in case.split("_")[0][3:].split("x"))
        pad = 0 if conv == 2 else 3
        c, h = 3, 32
        for _ in range(conv):
            layers.append(nn.Conv2d(c, ch, 5, padding=pad))
            if bn:
                layers.append(nn.BatchNorm2d(ch))
            layers += [nn.ReLU(), nn.MaxPool2d(2)]
            if p:
                layers.append(nn.Dropout2d(p))
            c, h = ch, (h + 2 * pad - 4) // 2
        layers.append(nn.Flatten())
        width, n_in = [128, 64], c * h * h
    for w in width:
        layers.append(nn.Linear(n_in, w))
        if bn:
            layers.append(nn.BatchNorm1d(w))
        layers.append(nn.ReLU())
        if p:
            layers.append(nn.Dropout(p))
        n_in = w
    layers.append(nn.Linear(n_in, 10))
    return nn.Sequential(*layers)


def measure(model, x, y, order, batch, train, seconds, device, precision):
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    loss_fn = nn.CrossEntropyLoss()
    model.train(train)
    cuda = device == "cuda"

    def clock():
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter()

    steps, s, t0, t_start = 0, 0, None, clock()
    with torch.set_grad_enabled(train):
        while True:
            # warm-up: 5 steps or 0.5 s, whichever ends first (as bench_train)
            if t0 is None and (s == 5 or (s >= 1 and clock() - t_start >= 0.5)):
                t0 = clock()
            start = (s * batch) % (N_IMAGES - batch)
            idx = order[start:start + batch]
            with torch.autocast(device_type=device, dtype=torch.bfloat16,
                                enabled=precision == "bf16"):
                out = model(x[idx])
                loss = loss_fn(out, y[idx])
            if train:
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            else:
                loss.item()
            s += 1
            if t0 is not None:
                steps += 1
                if (not cuda or steps % 4 == 0) and clock() - t0 >= seconds:
                    break
    return steps * batch / (clock() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--eval-batch", type=int, default=500)
    ap.add_argument("--train-only", action="store_true")
    ap.add_argument("--eval-only", action="store_true")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--precision", choices=["fp32", "tf32", "bf16"], default="fp32")
    ap.add_argument("cases", nargs="+")
    a = ap.parse_args()
    if a.precision != "fp32" and a.device != "cuda":
        ap.error("--precision tf32 and bf16 need --device cuda")
    torch.set_num_threads(a.threads)
    torch.backends.cudnn.benchmark = False  # heuristics, as nnsweep
    torch.backends.cuda.matmul.allow_tf32 = a.precision == "tf32"
    torch.backends.cudnn.allow_tf32 = a.precision == "tf32"
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    x = (torch.randint(0, 256, (N_IMAGES, 3, 32, 32), generator=g).float() / 255 - 0.5) / 0.5
    y = torch.randint(0, 10, (N_IMAGES,), generator=g)
    order = torch.randint(0, N_IMAGES, (N_IMAGES,), generator=g)
    x, y, order = x.to(a.device), y.to(a.device), order.to(a.device)
    print(f"# torch {torch.__version__}, {a.device} {a.precision}, {torch.get_num_threads()} "
          f"threads, batch {a.batch}, eval batch {a.eval_batch}, >= {a.seconds:.1f} s per "
          f"measurement", flush=True)
    for case in a.cases:
        model = build(case).to(a.device)
        run = (x, y, order)
        tr = 0.0 if a.eval_only else measure(model, *run, a.batch, True, a.seconds, a.device,
                                             a.precision)
        ev = 0.0 if a.train_only else measure(model, *run, a.eval_batch, False, a.seconds,
                                              a.device, a.precision)
        print(f"{case} {tr:.1f} {ev:.1f}", flush=True)


if __name__ == "__main__":
    main()
