/* sweep_describe.c - what a sweep will do, for `nnsweep expand` (sweep.h,
 * sweep_describe): its parameters and how the search sees them, its
 * stopping rule's rungs, and a search sweep's first proposals. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sweep/bayes.h"
#include "sweep_internal.h"

/* The JSON of list value i of p (as a run config would hold it). */
static void level_json(const ParamSpec *p, int i, NnBuf *out)
{
    RunConfig c;
    config_defaults(&c);
    NnError err;
    NN_CHECK(param_apply_level(&c, p, i, "<sweep>", &err) == NN_OK, "%s", err.msg);
    config_value_json(&c, p->config_index, out);
}

/* "log_uniform_values [0.0001, 0.1]", "values [[32], [64]]", ... */
static void describe_form(const ParamSpec *p, NnBuf *out)
{
    const DistSpec *d = &p->dist;
    if (p->text) {
        nn_buf_printf(out, "--set %s", p->text);
        return;
    }
    switch (d->kind) {
    case DIST_CONSTANT:
        nn_buf_printf(out, "value ");
        level_json(p, 0, out);
        return;
    case DIST_CATEGORICAL:
    case DIST_CATEGORICAL_PROB:
        nn_buf_printf(out, "values [");
        for (int i = 0; i < d->n_values && i < 8; i++) {
            nn_buf_printf(out, "%s", i ? ", " : "");
            level_json(p, i, out);
            if (d->kind == DIST_CATEGORICAL_PROB) nn_buf_printf(out, " (p %g)", d->probabilities[i]);
        }
        nn_buf_printf(out, "%s]", d->n_values > 8 ? ", ..." : "");
        return;
    default: break;
    }
    nn_buf_printf(out, "%s (", dist_kind_name(d->kind));
    switch (d->kind) {
    case DIST_NORMAL: case DIST_Q_NORMAL: case DIST_LOG_NORMAL: case DIST_Q_LOG_NORMAL:
        nn_buf_printf(out, "mu %g, sigma %g", d->mu, d->sigma);
        break;
    case DIST_BETA: case DIST_Q_BETA: nn_buf_printf(out, "a %g, b %g", d->a, d->b); break;
    default: nn_buf_printf(out, "min %g, max %g", d->min, d->max);
    }
    if (d->kind == DIST_Q_UNIFORM || d->kind == DIST_Q_LOG_UNIFORM ||
        d->kind == DIST_Q_LOG_UNIFORM_VALUES || d->kind == DIST_Q_NORMAL ||
        d->kind == DIST_Q_LOG_NORMAL || d->kind == DIST_Q_BETA)
        nn_buf_printf(out, ", q %g", d->q);
    nn_buf_printf(out, "): values in [%.4g, %.4g]", dist_from_unit(d, DIST_U_LO),
                  dist_from_unit(d, DIST_U_HI));
}

/* How the Bayesian search models p. */
static const char *model_words(const ParamSpec *p)
{
    BayesDim dim;
    if (p->text || !dist_bayes_dim(&p->dist, &dim)) return "constant";
    if (dim.kind == BAYES_CATEGORICAL) return "categorical (one-hot distance)";
    if (dim.kind == BAYES_LEVELS) return "ordered levels";
    switch (p->dist.kind) {
    case DIST_LOG_UNIFORM: case DIST_Q_LOG_UNIFORM: case DIST_LOG_UNIFORM_VALUES:
    case DIST_Q_LOG_UNIFORM_VALUES: case DIST_INV_LOG_UNIFORM: case DIST_INV_LOG_UNIFORM_VALUES:
        return "continuous, log scale (its CDF)";
    default: return "continuous (its CDF)";
    }
}

/* The proposals' lines: number, id, the searched parameters' values. */
static void describe_proposals(Sweep *sw, int n, NnBuf *out)
{
    int shown = 0;
    for (; shown < n; shown++) {
        int j;
        if (sw->strategy->peek(sw->strategy, sw, &j) != SWEEP_NEXT_RUN) break;
        sw->strategy->take(sw->strategy, sw, j);
        const SweepRun *r = &sw->runs[j];
        if (sw->program) { /* its config as the program gets it */
            nn_buf_printf(out, "  %4d  %s  %s\n", shown + 1, r->id, r->json);
            continue;
        }
        nn_buf_printf(out, "  %4d  %s  %8.2g ", shown + 1, r->id, r->cost);
        for (int k = 0; k < sw->n_params; k++) {
            if (!sw->params[k].varies) continue;
            nn_buf_printf(out, " %s=", sw->params[k].key);
            config_value_json(&r->config, config_key_index(sw->params[k].key), out);
        }
        nn_buf_printf(out, "%s\n", r->cost == 0 ? "  (its plan fails: it will be recorded failed)"
                                                : "");
    }
}

int sweep_describe(Sweep *sw, int n_proposals, NnBuf *out)
{
    const SweepDoc *d = sw->space ? &sw->space->doc : NULL;
    int search = sw->strategy->adopt != NULL;
    if (d && search && !sw->program) {
        nn_buf_printf(out, "  parameters:\n");
        for (int j = 0; j < d->n_params; j++) {
            const ParamSpec *p = &d->params[j];
            nn_buf_printf(out, "    %-16s ", p->key);
            describe_form(p, out);
            if (sw->method == SWEEP_BAYES) nn_buf_printf(out, "  [%s]", model_words(p));
            nn_buf_printf(out, "\n");
        }
    }
    if (sw->stop && d) {
        const HyperbandSpec *hb = &d->hb;
        nn_buf_printf(out, "  early_terminate: hyperband (eta %g, %s): decides after %s", hb->eta,
                      hb->strict ? "strict" : "not strict",
                      sw->program ? "the metric's logged values number" : "epochs");
        for (int i = 0; i < sw->stop->n_epochs && i < 20; i++)
            nn_buf_printf(out, "%s %d", i ? "," : "", sw->stop->epochs[i]);
        nn_buf_printf(out, "%s; a run goes on past one when its %s%s%s is in the best 1/%g of the "
                      "runs that reached it\n", sw->stop->n_epochs > 20 ? ", ..." : "",
                      hb->strict ? "" : "best ", sweep_metric_label(sw),
                      hb->strict ? " there" : " so far", hb->eta);
    }
    if (!search) return 0;
    int n_dims = !d ? 0 : sw->program ? program_doc_dims(d, NULL) : doc_dims(d, NULL, NULL);
    if (n_proposals <= 0)
        n_proposals = sw->method == SWEEP_BAYES ? bayes_default_n_init(n_dims) : 10;
    if (sw->run_cap > 0 && n_proposals > sw->run_cap) n_proposals = sw->run_cap;
    if (sw->method == SWEEP_BAYES)
        nn_buf_printf(out, "  bayes: a Gaussian process (Matern 5/2, a lengthscale per dimension) "
                      "over the %d searched parameters; the first %d runs are a Latin hypercube, "
                      "then each run maximizes log expected improvement (every second one the "
                      "posterior mean) given the results so far and the runs still pending\n",
                      n_dims, bayes_default_n_init(n_dims));
    else
        nn_buf_printf(out, "  random: one draw per run until %s\n",
                      sw->run_cap ? "run_cap" : "stopped (no run_cap)");
    nn_buf_printf(out, "  first %d run%s%s:\n", n_proposals, n_proposals == 1 ? "" : "s",
                  sw->method == SWEEP_BAYES ? " (before any result)" : "");
    describe_proposals(sw, n_proposals, out);
    return n_proposals;
}
