#!/usr/bin/env python3
"""train.py - the seed study's MLP and CNN on CIFAR-10 in PyTorch: a user's
own training script, swept by nnsweep (or by `wandb agent`: the same
arguments).

    nnsweep sweep examples/pytorch_cifar/sweep.yaml --out cifar.h5
    python3 examples/pytorch_cifar/train.py --model cnn --conv_layers "[32, 64]"

Models as nnsweep's built-in ones (DESIGN.md, Models):
  mlp: flatten -> [linear -> batchnorm? -> activation -> dropout?] x len(hidden_layers)
       -> linear(10)
  cnn: [conv(kernel_size, padding) -> batchnorm2d? -> activation -> maxpool(pool_size)
       -> dropout2d?] x len(conv_layers) -> flatten -> the mlp's hidden layers -> linear(10)
The data are CIFAR-10's official binary files (--data, else $CIFAR10_DIR),
scaled as (x/255 - 0.5)/0.5; the last --val_split training images are held
out for validation. Arguments come as W&B's agent writes them
(--hidden_layers=[256, 256], --batchnorm=True).

What it reports through nnsweep_run (python/nnsweep_run.py): after each
epoch e (1, 2, ...) a row at step e with epoch, train_loss, train_acc,
val_loss, val_acc, test_loss, test_acc, lr and seconds (also printed:
"epoch e {...}", the row as JSON); at the end a summary
(best_val_acc, test_acc_at_best, best_epoch) and the best epoch's weights
as an artifact ("best", saved in the run's directory). SIGTERM (nnsweep's
stopping rule) ends it at once: the rows it logged stay.
"""
import argparse
import ast
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import nnsweep_run as run


def int_list(text):
    v = ast.literal_eval(text) if text.strip() else []
    if isinstance(v, int):
        v = [v]
    if not isinstance(v, (list, tuple)) or not all(isinstance(x, int) and x > 0 for x in v):
        raise argparse.ArgumentTypeError("expected a list of positive integers, found %r" % text)
    return list(v)


def boolean(text):
    t = text.strip().lower()
    if t in ("true", "1", "yes", "on"):
        return True
    if t in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError("expected True or False, found %r" % text)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    a = p.add_argument
    a("--model", choices=["mlp", "cnn"], default="mlp")
    a("--hidden_layers", type=int_list, default=[256])
    a("--conv_layers", type=int_list, default=[32, 64])
    a("--kernel_size", type=int, default=3)
    a("--padding", type=int, default=1)
    a("--pool_size", type=int, default=2)
    a("--activation", choices=["relu", "tanh", "sigmoid", "gelu", "leaky_relu"], default="relu")
    a("--batchnorm", type=boolean, default=False)
    a("--dropout", type=float, default=0.0)
    a("--optimizer", choices=["sgd", "adam", "adamw"], default="sgd")
    a("--learning_rate", type=float, default=0.05)
    a("--momentum", type=float, default=0.9)
    a("--weight_decay", type=float, default=0.0)
    a("--batch_size", type=int, default=128)
    a("--epochs", type=int, default=10)
    a("--val_split", type=int, default=5000)
    a("--train_images", type=int, default=0, help="use only the first N (0: all)")
    a("--test_images", type=int, default=0, help="use only the first N (0: all 10000)")
    a("--seed", type=int, default=0)
    a("--device", choices=["auto", "cpu", "cuda"], default="auto")
    a("--data", default=os.environ.get("CIFAR10_DIR", "data/cifar-10-batches-bin"))
    return p.parse_args(argv)


class Cifar10Files:
    """CIFAR-10's binary files, mapped (only the records used are read)."""

    def __init__(self, folder):
        self.train = [self._map(folder, "data_batch_%d.bin" % i) for i in range(1, 6)]
        self.test = [self._map(folder, "test_batch.bin")]

    @staticmethod
    def _map(folder, name):
        path = os.path.join(folder, name)
        try:
            raw = np.memmap(path, dtype=np.uint8, mode="r")
        except (OSError, ValueError) as e:
            sys.exit("train.py: cannot read %s: %s (give --data or CIFAR10_DIR)" % (path, e))
        if raw.size % 3073:
            sys.exit("train.py: %s: not a CIFAR-10 binary file" % path)
        return raw.reshape(-1, 3073)

    @staticmethod
    def records(files, start, count):
        """(images uint8 NCHW, labels int64) of records [start, start + count)."""
        parts, at = [], 0
        for f in files:
            lo, hi = max(start - at, 0), min(start + count - at, len(f))
            if lo < hi:
                parts.append(np.asarray(f[lo:hi]))
            at += len(f)
        raw = np.concatenate(parts) if parts else np.zeros((0, 3073), np.uint8)
        return raw[:, 1:].reshape(-1, 3, 32, 32).copy(), raw[:, 0].astype(np.int64)


ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU,
               "leaky_relu": nn.LeakyReLU}


def build_model(args):
    act = ACTIVATIONS[args.activation]
    layers, c, h = [], 3, 32
    if args.model == "cnn":
        for oc in args.conv_layers:
            layers.append(nn.Conv2d(c, oc, args.kernel_size, padding=args.padding))
            if args.batchnorm:
                layers.append(nn.BatchNorm2d(oc))
            layers += [act(), nn.MaxPool2d(args.pool_size)]
            if args.dropout > 0:
                layers.append(nn.Dropout2d(args.dropout))
            h = (h + 2 * args.padding - args.kernel_size + 1) // args.pool_size
            if h < 1:
                sys.exit("train.py: the feature map shrinks below 1x1 (conv_layers %s)"
                         % args.conv_layers)
            c = oc
    layers.append(nn.Flatten())
    n = c * h * h
    for width in args.hidden_layers:
        layers.append(nn.Linear(n, width))
        if args.batchnorm:
            layers.append(nn.BatchNorm1d(width))
        layers.append(act())
        if args.dropout > 0:
            layers.append(nn.Dropout(args.dropout))
        n = width
    layers.append(nn.Linear(n, 10))
    return nn.Sequential(*layers)


def evaluate(model, x, y, device, batch=1000):
    """(mean cross-entropy, accuracy) on uint8 images x."""
    if len(x) == 0:
        return float("nan"), float("nan")
    model.eval()
    loss, right = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            xb = to_input(x[i:i + batch], device)
            yb = torch.from_numpy(y[i:i + batch]).to(device)
            out = model(xb)
            loss += F.cross_entropy(out, yb, reduction="sum").item()
            right += (out.argmax(1) == yb).sum().item()
    return loss / len(x), right / len(x)


def to_input(images, device):
    return (torch.from_numpy(images).to(device).float() / 255.0 - 0.5) / 0.5


def main():
    args = parse_args()
    torch.manual_seed(args.seed)
    if run.threads:
        torch.set_num_threads(run.threads)
    use_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("train.py: --device cuda but PyTorch sees no GPU (CUDA_VISIBLE_DEVICES=%s)"
                 % os.environ.get("CUDA_VISIBLE_DEVICES", "unset"))
    device = torch.device("cuda" if use_cuda else "cpu")

    data = Cifar10Files(args.data)
    n_all = sum(len(f) for f in data.train)
    if not 0 <= args.val_split < n_all:
        sys.exit("train.py: --val_split %d: expected 0..%d" % (args.val_split, n_all - 1))
    n_fit = n_all - args.val_split
    n_train = args.train_images if 0 < args.train_images < n_fit else n_fit
    x, y = data.records(data.train, 0, n_train)
    vx, vy = data.records(data.train, n_fit, args.val_split)
    n_test = sum(len(f) for f in data.test)
    tx, ty = data.records(data.test, 0, min(args.test_images or n_test, n_test))

    model = build_model(args).to(device)
    if args.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=args.learning_rate, momentum=args.momentum,
                              weight_decay=args.weight_decay)
    elif args.optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=args.learning_rate,
                               weight_decay=args.weight_decay)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=args.learning_rate,
                                weight_decay=args.weight_decay)
    print("train.py: %s on %s, %d training images, %d parameters" % (
        args.model, device, n_train, sum(p.numel() for p in model.parameters())), flush=True)

    ckpt = os.path.join(run.dir or ".", "best.pt")
    best = (-1.0, 0, float("nan"))  # val accuracy, epoch, test accuracy
    gen = torch.Generator().manual_seed(args.seed)
    for epoch in range(1, args.epochs + 1):
        t0 = time.time()
        model.train()
        order = torch.randperm(n_train, generator=gen).numpy()
        loss_sum, right = 0.0, 0
        for i in range(0, n_train, args.batch_size):
            idx = np.sort(order[i:i + args.batch_size])
            xb = to_input(x[idx], device)
            yb = torch.from_numpy(y[idx]).to(device)
            out = model(xb)
            loss = F.cross_entropy(out, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            right += (out.argmax(1) == yb).sum().item()
        train_loss, train_acc = loss_sum / n_train, right / n_train
        if not np.isfinite(train_loss):
            sys.exit("train.py: the training loss is %s at epoch %d" % (train_loss, epoch))
        val_loss, val_acc = evaluate(model, vx, vy, device)
        test_loss, test_acc = evaluate(model, tx, ty, device)
        row = {"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc,
               "val_loss": val_loss, "val_acc": val_acc, "test_loss": test_loss,
               "test_acc": test_acc, "lr": opt.param_groups[0]["lr"], "seconds": time.time() - t0}
        print("epoch %d %s" % (epoch, json.dumps(row)), flush=True)
        run.log(row, step=epoch)
        select = val_acc if args.val_split else test_acc
        if select > best[0]:
            best = (select, epoch, test_acc)
            torch.save(model.state_dict(), ckpt)
    run.summary({"best_val_acc": best[0], "best_epoch": best[1], "test_acc_at_best": best[2]})
    run.artifact(ckpt, name="best")


if __name__ == "__main__":
    main()
