#!/usr/bin/env python3
"""Writes tests/fixtures/search_ref.txt, the reference values of
tests/unit/test_search.c (run once, the output is committed; CI needs no
scipy):

  ppf KIND min max mu sigma q a b u expected   quantile (quantized kinds
                                               rounded), W&B's params.py
  cdf KIND min max mu sigma q a b x expected   W&B's HyperParameter.cdf
  gp_* lines                                   a GP posterior (below)

The distributions are W&B's (wandb/sweeps params.py) written out with
scipy.stats; the GP is the Matern 5/2 ARD kernel of src/sweep/gp.h with a
categorical dimension by the overlap distance, in plain numpy.

  /usr/bin/python3 tests/search_fixture.py > tests/fixtures/search_ref.txt
"""
import numpy as np
import scipy.stats as st

# kind, min, max, mu, sigma, q, a, b
SPECS = [
    ("uniform", -2.0, 3.0, 0, 1, 1, 1, 1),
    ("q_uniform", 0.0, 10.0, 0, 1, 0.25, 1, 1),
    ("log_uniform", -9.0, -2.0, 0, 1, 1, 1, 1),
    ("log_uniform_values", 1e-5, 0.1, 0, 1, 1, 1, 1),
    ("q_log_uniform", 0.0, 5.0, 0, 1, 2, 1, 1),
    ("q_log_uniform_values", 1.0, 1000.0, 0, 1, 8, 1, 1),
    ("inv_log_uniform", 1.0, 4.0, 0, 1, 1, 1, 1),
    ("inv_log_uniform_values", 0.01, 2.0, 0, 1, 1, 1, 1),
    ("normal", 0, 0, 1.5, 0.3, 1, 1, 1),
    ("q_normal", 0, 0, 10.0, 4.0, 0.5, 1, 1),
    ("log_normal", 0, 0, -1.0, 0.7, 1, 1, 1),
    ("q_log_normal", 0, 0, 2.0, 1.0, 0.1, 1, 1),
    ("beta", 0, 0, 0, 1, 1, 2.0, 5.0),
    ("beta", 0, 0, 0, 1, 1, 0.5, 0.5),
    ("q_beta", 0, 0, 0, 1, 0.05, 3.0, 1.5),
]
US = [1e-12, 1e-6, 0.001, 0.02, 0.1, 0.25, 0.5, 0.6180339887, 0.9, 0.99, 0.999999]


def ppf(kind, lo, hi, mu, sigma, q, a, b, u):
    if kind in ("uniform", "q_uniform"):
        r = st.uniform.ppf(u, lo, hi - lo)
    elif kind in ("log_uniform", "q_log_uniform"):
        r = np.exp(st.uniform.ppf(u, lo, hi - lo))
    elif kind in ("log_uniform_values", "q_log_uniform_values"):
        r = np.exp(st.uniform.ppf(u, np.log(lo), np.log(hi) - np.log(lo)))
    elif kind == "inv_log_uniform":
        r = np.exp(-st.uniform.ppf(1 - u, lo, hi - lo))
    elif kind == "inv_log_uniform_values":
        r = np.exp(-st.uniform.ppf(1 - u, -np.log(hi), -np.log(lo) + np.log(hi)))
    elif kind in ("normal", "q_normal"):
        r = st.norm.ppf(u, loc=mu, scale=sigma)
    elif kind in ("log_normal", "q_log_normal"):
        r = st.lognorm.ppf(u, s=sigma, scale=np.exp(mu))
    else:
        r = st.beta.ppf(u, a, b)
    return np.round(r / q) * q if kind.startswith("q_") else r


def cdf(kind, lo, hi, mu, sigma, q, a, b, x):
    if kind in ("uniform", "q_uniform"):
        return st.uniform.cdf(x, lo, hi - lo)
    if kind in ("log_uniform", "q_log_uniform"):
        return st.uniform.cdf(np.log(x), lo, hi - lo)
    if kind in ("log_uniform_values", "q_log_uniform_values"):
        return st.uniform.cdf(np.log(x), np.log(lo), np.log(hi) - np.log(lo))
    if kind == "inv_log_uniform":
        return 1 - st.uniform.cdf(np.log(1 / x), lo, hi - lo)
    if kind == "inv_log_uniform_values":
        return 1 - st.uniform.cdf(np.log(1 / x), -np.log(hi), abs(np.log(hi) - np.log(lo)))
    if kind in ("normal", "q_normal"):
        return st.norm.cdf(x, loc=mu, scale=sigma)
    if kind in ("log_normal", "q_log_normal"):
        return st.lognorm.cdf(x, s=sigma, scale=np.exp(mu))
    return st.beta.cdf(x, a, b)


def matern52(theta, cat, A, B):
    D = A.shape[1]
    r2 = np.zeros((A.shape[0], B.shape[0]))
    for d in range(D):
        diff = A[:, d][:, None] - B[:, d][None, :]
        if cat[d]:
            diff = (diff != 0).astype(float)
        r2 += diff ** 2 / np.exp(2 * theta[d])
    r = np.sqrt(r2)
    return np.exp(theta[D]) * (1 + np.sqrt(5) * r + 5 * r2 / 3) * np.exp(-np.sqrt(5) * r)


def main():
    for spec in SPECS:
        head = "%s %.17g %.17g %.17g %.17g %.17g %.17g %.17g" % spec
        for u in US:
            v = ppf(*spec, u)
            print("ppf %s %.17g %.17g" % (head, u, v))
            # the CDF of the unquantized distribution at the quantile
            # (quantized kinds: of the continuous one) and nearby
            r = ppf(spec[0].replace("q_", ""), *spec[1:5], 1, *spec[6:], u)
            for x in (r, r * 1.01 + 1e-3):
                print("cdf %s %.17g %.17g" % (head, x, cdf(*spec, x)))

    # GP: 2 continuous dimensions and a categorical one with 3 levels
    rng = np.random.default_rng(23)
    n, cat = 9, [0, 0, 1]
    X = rng.uniform(size=(n, 3))
    X[:, 2] = (np.floor(X[:, 2] * 3) + 0.5) / 3
    y = np.sin(5 * X[:, 0]) + X[:, 1] ** 2 + 0.3 * (X[:, 2] > 0.5)
    y = (y - y.mean()) / y.std()
    theta = np.array([np.log(0.3), np.log(0.7), np.log(1.2), np.log(1.5), np.log(1e-3)])
    K = matern52(theta, cat, X, X) + np.exp(theta[-1]) * np.eye(n)
    Ki = np.linalg.inv(K)
    alpha = Ki @ y
    lml = -0.5 * y @ alpha - 0.5 * np.linalg.slogdet(K)[1] - 0.5 * n * np.log(2 * np.pi)
    # the priors of gp.c (unnormalized log densities)
    prior = -0.5 * np.sum(theta[:3] ** 2) - 0.5 * theta[3] ** 2 \
        - 0.5 * ((theta[4] - np.log(1e-4)) / 2) ** 2
    print("gp_theta " + " ".join("%.17g" % t for t in theta))
    for i in range(n):
        print("gp_obs %s %.17g" % (" ".join("%.17g" % v for v in X[i]), y[i]))
    T = rng.uniform(size=(5, 3))
    T[:, 2] = (np.floor(T[:, 2] * 3) + 0.5) / 3
    T[0] = X[0]  # at an observation: variance near the noise
    ks = matern52(theta, cat, T, X)
    mean = ks @ alpha
    var = np.exp(theta[3]) - np.sum((ks @ Ki) * ks, axis=1)
    for i in range(5):
        print("gp_test %s %.17g %.17g" % (" ".join("%.17g" % v for v in T[i]), mean[i], var[i]))
    print("gp_objective %.17g" % (lml + prior))


if __name__ == "__main__":
    main()
