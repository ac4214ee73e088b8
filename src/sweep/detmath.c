/* detmath.c - CPU-independent exp, log and normal CDF (detmath.h). */
#include "sweep/detmath.h"

#include <math.h>

static const double LN2_HI = 6.93147180369123816490e-01; /* 32 significant bits: k * LN2_HI exact */
static const double LN2_LO = 1.90821492927058770002e-10;
static const double INV_LN2 = 1.44269504088896338700e+00;

double det_exp(double x)
{
    if (x != x)
        return x;
    if (x > 709.782712893384)
        return INFINITY;
    if (x < -745.2)
        return 0;
    /* x = k ln2 + r, |r| <= ln2 / 2 (Cody-Waite), e^r by its Taylor series
     * (the 14th term is below 4e-18 of the sum). */
    double k = floor(x * INV_LN2 + 0.5);
    double r = (x - k * LN2_HI) - k * LN2_LO;
    double term = 1, sum = 1;
    for (int i = 1; i <= 13; i++) {
        term *= r / i;
        sum += term;
    }
    /* two steps keep 2^k representable down to the subnormals */
    int ki = (int)k;
    if (ki < -1000)
        return ldexp(ldexp(sum, ki + 1000), -1000);
    return ldexp(sum, ki);
}

double det_log(double x)
{
    if (x != x || x < 0)
        return NAN;
    if (x == 0)
        return -INFINITY;
    if (isinf(x))
        return x;
    /* x = m 2^e with m in [sqrt(1/2), sqrt(2)); log m = 2 atanh(s),
     * s = (m - 1) / (m + 1), |s| <= 0.1716: the series to s^23 */
    int e;
    double m = frexp(x, &e); /* m in [0.5, 1) */
    if (m < 0.70710678118654752440) {
        m *= 2;
        e -= 1;
    }
    double s = (m - 1) / (m + 1), s2 = s * s;
    double poly = 0;
    for (int k = 23; k >= 3; k -= 2)
        poly = (poly + 1.0 / k) * s2;
    double lm = 2 * s + 2 * s * poly;
    return e * LN2_HI + (lm + e * LN2_LO);
}

/* a + k0/(a + (k0+1)/(a + ...)), the tail of Laplace's continued fraction
 * phi(a) / Phi(-a) = a + 1/(a + 2/(a + 3/(a + ...))), from a fixed depth:
 * 60 levels are exact to double precision for a >= 2.5. */
static double mills_cf(double a, int k0)
{
    double f = a;
    for (int k = k0 + 59; k >= k0; k--)
        f = a + k / f;
    return f;
}

double det_norm_pdf(double x)
{
    return 0.39894228040143267794 * det_exp(-0.5 * x * x);
}

double det_norm_cdf(double x)
{
    if (x != x)
        return x;
    if (x > 0)
        return 1 - det_norm_cdf(-x);
    if (x < -37.5)
        return 0;
    double ax = -x;
    if (ax < 2.5) {
        /* Phi(x) = 1/2 - phi(x) sum_k x^(2k+1) / (1 3 5 ... (2k+1)): all
         * terms positive for |x|, no cancellation inside the sum. */
        double term = ax, sum = ax, x2 = ax * ax;
        for (int k = 1; k < 200; k++) {
            term *= x2 / (2 * k + 1);
            sum += term;
            if (term < 1e-17 * sum)
                break;
        }
        return 0.5 - det_norm_pdf(ax) * sum;
    }
    return det_norm_pdf(ax) / mills_cf(ax, 1);
}

double det_log_ei_h(double z)
{
    if (z > -2.5)
        return det_log(det_norm_pdf(z) + z * det_norm_cdf(z));
    /* phi(z) + z Phi(z) = phi(a) (1 - a / f) for a = -z and f = a + 1/g,
     * g the fraction's tail from 2: 1 - a / f = 1 / (g f), no cancellation */
    double a = -z < 1e150 ? -z : 1e150;
    double g = mills_cf(a, 2), f = a + 1 / g;
    double bracket = 1 / (g * f);
    return -0.5 * a * a - 0.91893853320467274178 + det_log(bracket);
}
