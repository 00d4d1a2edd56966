#!/usr/bin/env python3
"""What one site holding every row would compute, printed beside a federated result.

run.sh calls it after each job with the job's result (the JSON `fedmesh job submit --wait`
prints) and the CSV files a single site would hold. It reads the files itself, so the
numbers on the right never passed through fedmesh.

  single_site.py mean     RESULT.json CSV
  single_site.py linear   RESULT.json CSV TARGET              (needs numpy; skipped without it)
  single_site.py logistic RESULT.json TARGET ROUNDS CSV...    (the rows of every training file)
  single_site.py evaluate RESULT.json MODEL_RESULT.json TARGET CSV
"""
import bisect
import csv
import json
import math
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def columns(paths, names):
    """The named columns of every row of `paths`, as floats (the California files have no gaps)."""
    out = {n: [] for n in names}
    for p in paths:
        with open(p, newline="") as f:
            for row in csv.DictReader(f):
                for n in names:
                    out[n].append(float(row[n]))
    return out


def table(rows):
    print(f"    {'':<22} {'federated':>20} {'single site':>20} {'difference':>12}")
    for name, fed, single in rows:
        if fed is None or single is None:
            print(f"    {name:<22} {str(fed):>20} {str(single):>20}")
            continue
        print(f"    {name:<22} {fed:>20.12g} {single:>20.12g} {abs(fed - single):>12.1e}")


def mean(result_path, csv_path):
    fed = load(result_path)
    names = list(fed["mean"])
    cols = columns([csv_path], names)
    n = len(cols[names[0]])
    rows = [("count", fed["count"], n)]
    rows += [(f"mean {c}", fed["mean"][c], math.fsum(cols[c]) / n) for c in names]
    table(rows)


def linear(result_path, csv_path, target):
    try:
        import numpy as np
    except ImportError:
        print("    (single site: skipped, numpy is not installed; `pip install numpy` to compare)")
        return
    fed = load(result_path)
    features = [k for k in fed["coefficients"] if k != "intercept"]
    cols = columns([csv_path], features + [target])
    x = np.column_stack([np.ones(len(cols[target]))] + [np.array(cols[f]) for f in features])
    y = np.array(cols[target])
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    residual = y - x @ beta
    r2 = 1 - float(residual @ residual) / float(((y - y.mean()) ** 2).sum())
    rows = [("intercept", fed["coefficients"]["intercept"], float(beta[0]))]
    rows += [(f, fed["coefficients"][f], float(b)) for f, b in zip(features, beta[1:])]
    rows += [("r2", fed["r2"], r2), ("n", fed["n"], len(y))]
    table(rows)


def sigmoid(z):
    if z >= 0:
        return 1 / (1 + math.exp(-z))
    e = math.exp(z)
    return e / (1 + e)


def logistic(result_path, target, rounds, csv_paths):
    """Full-batch gradient descent on the union of the files, as fedmesh's defaults do it:
    features standardized with the union's means and sample standard deviations, learning
    rate 0.5, no L2, one local epoch. With one local epoch, averaging each site's step
    weighted by its rows is the same step as one site's over every row."""
    fed = load(result_path)
    features = [k for k in fed["coefficients"] if k != "intercept"]
    cols = columns(csv_paths, features + [target])
    y = cols[target]
    n = len(y)
    p = len(features)
    means = [math.fsum(cols[f]) / n for f in features]
    sds = []
    for f, m in zip(features, means):
        s = math.sqrt(math.fsum((v - m) ** 2 for v in cols[f]) / (n - 1))
        sds.append(s if s > 0 else 1.0)
    x = [[(cols[f][i] - means[j]) / sds[j] for j, f in enumerate(features)] for i in range(n)]
    w = [0.0] * (p + 1)
    loss = accuracy = None
    lr = 0.5
    for _ in range(rounds):
        grad = [0.0] * (p + 1)
        total = 0.0
        correct = 0
        for xi, yi in zip(x, y):
            z = w[0] + sum(wj * v for wj, v in zip(w[1:], xi))
            prob = sigmoid(z)
            total -= math.log(max(prob, 1e-15)) if yi == 1 else math.log(max(1 - prob, 1e-15))
            correct += (prob >= 0.5) == (yi == 1)
            err = prob - yi
            grad[0] += err
            for j, v in enumerate(xi):
                grad[j + 1] += err * v
        loss, accuracy = total / n, correct / n  # of the weights this round started from
        w = [wj - lr * g / n for wj, g in zip(w, grad)]
    raw = [w[0] - sum(w[j + 1] * means[j] / sds[j] for j in range(p))]
    raw += [w[j + 1] / sds[j] for j in range(p)]
    rows = [("intercept", fed["coefficients"]["intercept"], raw[0])]
    rows += [(f, fed["coefficients"][f], raw[j + 1]) for j, f in enumerate(features)]
    rows += [("loss (last round)", fed["loss"][-1], loss), ("accuracy (last round)", fed["accuracy"][-1], accuracy),
             ("n", fed["n"], n)]
    table(rows)


def evaluate(result_path, model_path, target, csv_path):
    """The federated model's coefficients applied here, row by row, to the held-out file."""
    fed = load(result_path)
    coef = load(model_path)["coefficients"]
    features = [k for k in coef if k != "intercept"]
    cols = columns([csv_path], features + [target])
    scores, labels = [], cols[target]
    for i in range(len(labels)):
        scores.append(sigmoid(coef["intercept"] + sum(coef[f] * cols[f][i] for f in features)))
    tp = sum(1 for s, y in zip(scores, labels) if s >= 0.5 and y == 1)
    fp = sum(1 for s, y in zip(scores, labels) if s >= 0.5 and y == 0)
    tn = sum(1 for s, y in zip(scores, labels) if s < 0.5 and y == 0)
    fn = sum(1 for s, y in zip(scores, labels) if s < 0.5 and y == 1)
    # Exact AUC: the chance that a positive scores above a negative (ties count half).
    pos = sorted(s for s, y in zip(scores, labels) if y == 1)
    neg = sorted(s for s, y in zip(scores, labels) if y == 0)
    above = 0.0
    for s in neg:
        lo, hi = bisect.bisect_left(pos, s), bisect.bisect_right(pos, s)
        above += len(pos) - hi + (hi - lo) / 2
    n = len(labels)
    rows = [("n", fed["n"], n), ("accuracy", fed["accuracy"], (tp + tn) / n),
            ("precision", fed["precision"], tp / (tp + fp) if tp + fp else None),
            ("recall", fed["recall"], tp / (tp + fn) if tp + fn else None),
            ("auc", fed["auc"], above / (len(pos) * len(neg)) if pos and neg else None)]
    table(rows)
    print("    (fedmesh's AUC comes from 1,000 score bins added across datasources, so it may differ"
          " slightly from the exact one)")


def main(argv):
    kind = argv[1] if len(argv) > 1 else ""
    if kind == "mean" and len(argv) == 4:
        mean(argv[2], argv[3])
    elif kind == "linear" and len(argv) == 5:
        linear(argv[2], argv[3], argv[4])
    elif kind == "logistic" and len(argv) >= 6:
        logistic(argv[2], argv[3], int(argv[4]), argv[5:])
    elif kind == "evaluate" and len(argv) == 6:
        evaluate(argv[2], argv[3], argv[4], argv[5])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
