/* detmath.h - exp, log and the normal CDF in plain double arithmetic, for
 * the Bayesian search's results to be bit-identical on every x86-64 CPU.
 *
 * glibc picks exp/log/erfc implementations by CPU (FMA variants on AVX2
 * machines), which may round differently in the last bit; a GP's proposal
 * goes through thousands of them and an argmax, so one ulp can change the
 * point proposed. These use only +, -, *, / and frexp/ldexp (exact), in a
 * file compiled with -ffp-contract=off, so each result is the same on every
 * IEEE-754 machine. Accuracy: relative error below 1e-15 for exp and log;
 * for det_norm_cdf below 5e-14 at |x| < 10 and growing as x^2 ulp in the
 * lower tail (1e-13 at -37: the rounding of x^2 / 2 inside the exp)
 * (tests/unit/test_search.c checks against libm). */
#ifndef NNSWEEP_SWEEP_DETMATH_H
#define NNSWEEP_SWEEP_DETMATH_H

/* e^x: +inf above 709.78, 0 below -745.2, NaN for NaN. */
double det_exp(double x);
/* Natural log: -inf at 0, NaN below 0 or for NaN, +inf at +inf. */
double det_log(double x);
/* Standard normal CDF, Phi(x), with full relative precision in the lower
 * tail (x down to -37). */
double det_norm_cdf(double x);
/* Standard normal density. */
double det_norm_pdf(double x);
/* log(phi(z) + z Phi(z)), the log of expected improvement per unit of
 * standard deviation, accurate where the sum underflows or cancels (z down
 * to -1e150: via the Mills ratio Phi(-a) / phi(a) for z < -2.5). */
double det_log_ei_h(double z);

#endif
