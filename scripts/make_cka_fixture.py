"""Writes tests/fixtures/cka_oracle.json: the published CKA oracle case.

X = randn(100, 10) and Y = X + randn(100, 10) drawn with numpy's legacy seeding
(np.random.seed(1337)); linear CKA (Kornblith et al. 2019) = 0.55761 and debiased linear CKA
(unbiased HSIC, Nguyen, Raghu & Kornblith 2021) = 0.51346. The values are recomputed here with
numpy and checked against the published ones before anything is written.

Usage: python scripts/make_cka_fixture.py   (needs numpy)
"""
import json
import pathlib

import numpy as np


def linear_cka(x, y):
    x = x - x.mean(0)
    y = y - y.mean(0)
    return np.linalg.norm(x.T @ y) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))


def unbiased_hsic(k, l):
    n = k.shape[0]
    k, l = k.copy(), l.copy()
    np.fill_diagonal(k, 0)
    np.fill_diagonal(l, 0)
    one = np.ones(n)
    return (np.sum(k * l) + (one @ k @ one) * (one @ l @ one) / ((n - 1) * (n - 2))
            - 2 / (n - 2) * (one @ k @ l @ one)) / (n * (n - 3))


def debiased_cka(x, y):
    k, l = x @ x.T, y @ y.T
    return unbiased_hsic(k, l) / np.sqrt(unbiased_hsic(k, k) * unbiased_hsic(l, l))


np.random.seed(1337)
X = np.random.randn(100, 10)
Y = X + np.random.randn(100, 10)
linear, debiased = linear_cka(X, Y), debiased_cka(X, Y)
assert round(linear, 5) == 0.55761 and round(debiased, 5) == 0.51346, (linear, debiased)
out = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "cka_oracle.json"
out.write_text(json.dumps({"x": X.tolist(), "y": Y.tolist(), "linear": linear, "debiased": debiased}))
print(f"linear CKA {linear:.5f}, debiased {debiased:.5f} -> {out}")
