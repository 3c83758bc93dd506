#!/usr/bin/python3
"""Fits the geometric part of neardup's score (engine/verify.hpp, ScoreModel) on the train split.

Input: the hits CSV of `bench_quality --hits-csv FILE` (every verified hit with its evidence and truth) and the
benchmark's ground_truth.csv / queries.csv (for the number of true pairs per split). A logistic regression
(scikit-learn, Debian's python3-sklearn) on the train split's hits with geometric evidence; then both splits
are ranked by the score the fitted model gives, pooled over all queries as bench_quality does, and compared
with the score the run had.

    bench/fit_score.py --hits bench-out/quality-20k/hits.csv --data bench-out/offline-20k

Prints the fitted coefficients in the form ScoreModel takes, and muAP / recall at precision 0.99 on both
splits before and after. Only train decides; test is printed to be reported, not to choose by.
"""
import argparse
import csv
import math
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression

# Every feature the hits CSV gives; ScoreModel (engine/include/neardup/engine/verify.hpp) uses DEFAULT_FEATURES.
FEATURES = ["log_inliers", "inlier_ratio", "residual", "log_anisotropy", "reference_coverage", "query_coverage", "region", "mirrored"]
DEFAULT_FEATURES = ["log_inliers", "inlier_ratio", "log_anisotropy"]


def features(row):
    inliers = int(row["inliers"]) - int(row["shared_inliers"])
    if inliers <= 0:
        return None
    # Inliers shared with other references are left out of both counts, as the store's discount does.
    correspondences = max(1, int(row["correspondences"]) - int(row["shared_inliers"]))
    return [
        math.log(inliers),
        min(1.0, inliers / correspondences),
        float(row["residual"]),
        math.log(max(1.0, float(row["anisotropy"]))),
        math.sqrt(max(0.0, float(row["reference_coverage"]))),
        math.sqrt(max(0.0, float(row["query_coverage"]))),
        float(row["from_region"]),
        float(row["mirrored"]),
    ]


def logistic(x):
    return 1.0 / (1.0 + np.exp(-x))


def hash_part(distance, center=52.0, width=5.0):
    # ScoreModel's PDQ part at its defaults (the CSV has no PDQ quality: flat images are rare among the hits).
    return logistic((center - distance) / width)


def ranking_figures(scores, truth, positives):
    """muAP and recall at precision 0.99 of pooled predictions, ties ranked worst first (bench/metrics)."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], truth[i]))
    tp = 0
    ap = 0.0
    best_recall = 0.0
    i = 0
    while i < len(order):
        j = i
        while j < len(order) and scores[order[j]] == scores[order[i]]:
            j += 1
        for k in range(i, j):  # within a tie, wrong ones first
            if truth[order[k]]:
                tp += 1
                ap += tp / (k + 1)
        if tp / j >= 0.99:
            best_recall = max(best_recall, tp / positives)
        i = j
    return ap / positives, best_recall


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hits", required=True, help="bench_quality --hits-csv output")
    parser.add_argument("--data", required=True, help="the benchmark folder (ground_truth.csv, queries.csv)")
    parser.add_argument("--features", default=",".join(DEFAULT_FEATURES),
                        help="comma-separated, of: " + ", ".join(FEATURES) + " (default: the ones ScoreModel uses)")
    parser.add_argument("--regularisation", type=float, default=1.0, help="scikit-learn's C (inverse strength)")
    args = parser.parse_args()
    chosen_features = args.features.split(",")
    unknown = [f for f in chosen_features if f not in FEATURES]
    if unknown:
        sys.exit("fit_score: unknown feature(s) " + ", ".join(unknown))
    columns = [FEATURES.index(f) for f in chosen_features]

    def select(x):
        return None if x is None else [x[c] for c in columns]

    split_of = {}
    with open(f"{args.data}/queries.csv", newline="") as f:
        for row in csv.DictReader(f):
            split_of[row["query_id"]] = row["split"]
    positives = {"train": 0, "test": 0}
    with open(f"{args.data}/ground_truth.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["reference_id"] and split_of.get(row["query_id"]) in positives:
                positives[split_of[row["query_id"]]] += 1

    with open(args.hits, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] in positives]
    with_geometry = [(select(x), int(r["true_pair"])) for r in rows if r["split"] == "train" for x in [features(r)] if x is not None]
    x_train = [x for x, _ in with_geometry]
    y_train = [y for _, y in with_geometry]
    if len(set(y_train)) < 2:
        sys.exit("fit_score: the train split needs true and false hits with geometric evidence")
    model = LogisticRegression(C=args.regularisation, max_iter=10000)
    model.fit(np.array(x_train), np.array(y_train))
    weights = model.coef_[0]
    print(f"hits with geometric evidence on train: {len(y_train)} ({sum(y_train)} true)")
    print("fitted: bias %.4f" % model.intercept_[0])
    for name, w in zip(chosen_features, weights):
        print(f"  {name:20s} {w:+.4f}")
    if chosen_features == DEFAULT_FEATURES:
        print("ScoreModel: geometry_bias = %.4f, geometry_log_inliers = %.4f, geometry_inlier_ratio = %.4f, "
              "geometry_log_anisotropy = %.4f" % (model.intercept_[0], *weights))

    for split in ("train", "test"):
        chosen = [r for r in rows if r["split"] == split]
        truth = [int(r["true_pair"]) for r in chosen]
        before = [float(r["score"]) for r in chosen]
        after = []
        for r in chosen:
            x = select(features(r))
            p_geometry = logistic(model.intercept_[0] + float(np.dot(weights, x))) if x else 0.0
            after.append(1 - (1 - hash_part(int(r["pdq_distance"]))) * (1 - p_geometry))
        b = ranking_figures(before, truth, positives[split])
        a = ranking_figures(after, truth, positives[split])
        print(f"{split}: muAP {b[0]:.4f} -> {a[0]:.4f}, R@P0.99 {b[1]:.4f} -> {a[1]:.4f} "
              f"({positives[split]} true pairs, {len(chosen)} hits)")


if __name__ == "__main__":
    main()
