/* strategy_search.c - the strategies that add runs while a sweep runs
 * (sweep.h): random draws without a run_cap, and bayes (bayes.h) over the
 * sweep's unit cube (doc_dims, sweep_dist.h's maps).
 *
 * Both hand out first the runs adopted from a results file that are not
 * finished (resume), then new ones, until run_cap runs exist (never without
 * one), SWEEP_FAILED_IN_ROW results in a row were `failed`, or the space is
 * exhausted (every new config is a run the sweep has).
 *  - random: draw k of sweep.h's random search, k = 0, 1, ..., skipping a
 *    draw whose config the sweep already has; so a resumed sweep, which has
 *    adopted the file's runs, goes on with the draws the first session would
 *    have made.
 *  - bayes: a new Bayes at every proposal, which observes the finished runs
 *    in run order and gets the runs handed out and not finished as pending
 *    points. Every run's coordinates are those of its config
 *    (doc_unit_of_config), not of the proposal that made it, and the
 *    observations are ordered by run, not by finish: the proposal is a pure
 *    function of the sweep, which runs exist, which of them finished with
 *    what and which are pending. A resumed sweep, which rebuilds that from
 *    the results file, proposes what the first session would have.
 *    Observed y (smaller is better: the metric, negated to maximize): a
 *    done or stopped run its metric at its best epoch; a failed or diverged
 *    run W&B's impute (metric.impute: worst = the worst value any finished
 *    run logged, best / latest = its own best / last value, 0 when there is
 *    none); a value that is still not finite is replaced by `worst`, as in
 *    W&B. An interrupted run (a lost worker) is neither observed nor
 *    pending. A proposal whose config the sweep already has is proposed
 *    again with that point as pending (3 times), then replaced by uniform
 *    random points (100 tries) before the space counts as exhausted. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnsweep/rng.h"
#include "sweep/bayes.h"
#include "sweep_internal.h"

enum { S_OPEN = 0, S_TAKEN, S_FINISHED };

typedef struct SearchRun {
    char state;   /* S_* */
    char adopted; /* from the results file */
    RunStatus status;
    SweepRunMetric m;
} SearchRun;

typedef struct Search {
    SweepStrategy base;
    int bayes;
    const SweepDoc *doc; /* the sweep's space (borrowed) */
    int n_dims;
    BayesDim *dims;      /* (n_dims) */
    int n, cap;          /* runs tracked (the sweep's, in order) */
    SearchRun *runs;     /* (cap) */
    double *u;           /* (cap, n_dims) the coordinates of each run's config */
    int *slots;          /* open addressing over run ids: index + 1 */
    size_t mask;
    int peeked;          /* the run peek gave and take has not taken, or -1 */
    int next_open;       /* first run that may be S_OPEN and not peeked */
    uint64_t next_draw;  /* random */
    int failed_in_row;
    int done;
    char why[160];
} Search;

/* ---- the runs it knows ---------------------------------------------------------- */

static size_t id_hash(const char *id) { return (size_t)nn_hash64(id, strlen(id), 7); }

static int find_id(const Search *s, const Sweep *sw, const char *id)
{
    for (size_t i = id_hash(id) & s->mask; s->slots[i]; i = (i + 1) & s->mask)
        if (!strcmp(sw->runs[s->slots[i] - 1].id, id)) return s->slots[i] - 1;
    return -1;
}

static void insert_id(Search *s, const Sweep *sw, int run)
{
    size_t i = id_hash(sw->runs[run].id) & s->mask;
    while (s->slots[i]) i = (i + 1) & s->mask;
    s->slots[i] = run + 1;
}

/* Tracks run `run` (just appended to sw->runs). */
static void track(Search *s, const Sweep *sw, int run, int adopted, const double *u)
{
    NN_CHECK(run == s->n, "search strategy: run %d appended, %d expected", run, s->n);
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 16;
        s->runs = nn_realloc(s->runs, (size_t)s->cap * sizeof *s->runs);
        s->u = nn_realloc(s->u, (size_t)s->cap * (size_t)(s->n_dims ? s->n_dims : 1) * sizeof *s->u);
    }
    if (2 * (size_t)(s->n + 1) > s->mask) { /* rehash at half full */
        size_t cap = 2 * (s->mask + 1);
        free(s->slots);
        s->slots = nn_calloc(cap, sizeof *s->slots);
        s->mask = cap - 1;
        for (int i = 0; i < s->n; i++) insert_id(s, sw, i);
    }
    insert_id(s, sw, run);
    s->runs[run] = (SearchRun){.state = S_OPEN, .adopted = (char)adopted, .status = RUN_PENDING};
    if (s->n_dims) memcpy(s->u + (size_t)run * s->n_dims, u, (size_t)s->n_dims * sizeof *u);
    s->n++;
}

/* A run the strategy may add: a config of the built-in trainer (c), or a
 * program sweep's config JSON (json, sweep.h: Program sweeps), and its id. */
typedef struct Cand {
    RunConfig c;
    NnBuf json;
    char id[13];
} Cand;

static void cand_from_draw(const Search *s, const Sweep *sw, uint64_t draw, Cand *k)
{
    if (sw->program) {
        k->json.len = 0;
        program_doc_json_from_draw(s->doc, sw->hash, draw, &k->json);
        config_run_id_text(k->json.data, k->json.len, sw->name, k->id);
    } else {
        doc_config_from_draw(s->doc, sw->hash, draw, &k->c);
        config_run_id(&k->c, sw->name, k->id);
    }
}

static void cand_from_unit(const Search *s, const Sweep *sw, const double *u, Cand *k)
{
    if (sw->program) {
        k->json.len = 0;
        program_doc_json_from_unit(s->doc, u, &k->json);
        config_run_id_text(k->json.data, k->json.len, sw->name, k->id);
    } else {
        doc_config_from_unit(s->doc, u, &k->c);
        config_run_id(&k->c, sw->name, k->id);
    }
}

/* The coordinates of a candidate's config (u may be NULL to only check). */
static NnStatus cand_unit(const Search *s, const Sweep *sw, const Cand *k, double *u, NnError *err)
{
    return sw->program ? program_doc_unit_of_json(s->doc, k->json.data, u, err)
                       : doc_unit_of_config(s->doc, &k->c, u, err);
}

/* Appends candidate k to the sweep (its coordinates u: bayes); a program's
 * JSON goes to the run. */
static int add_run(Search *s, Sweep *sw, Cand *k, const double *u, int adopted)
{
    int run;
    if (sw->program) {
        run = sweep_add_program_run(sw, k->json.data);
        k->json = (NnBuf){0};
    } else {
        run = sweep_add_run(sw, &k->c);
    }
    track(s, sw, run, adopted, u);
    return run;
}

/* ---- random ---------------------------------------------------------------------- */

/* The next draw whose config the sweep does not have: 1 and *k, or 0 when
 * 1000 draws in a row gave configs of runs this session drew. */
static int next_random(Search *s, const Sweep *sw, Cand *k)
{
    for (int dup = 0; dup < 1000;) {
        cand_from_draw(s, sw, s->next_draw++, k);
        int have = find_id(s, sw, k->id);
        if (have < 0) return 1;
        dup += !s->runs[have].adopted; /* the file's runs are the earlier draws */
    }
    return 0;
}

/* ---- bayes ----------------------------------------------------------------------- */

/* W&B's impute of a run's metric, before orientation. */
static double impute(const Sweep *sw, const SearchRun *r, double worst)
{
    double v = sw->impute == SWEEP_IMPUTE_BEST ? r->m.best
               : sw->impute == SWEEP_IMPUTE_LATEST ? r->m.latest : worst;
    return isfinite(v) ? v : 0.0;
}

/* The observed y of finished run r (smaller is better). */
static double observed_y(const Sweep *sw, const SearchRun *r, double worst)
{
    double v = (r->status == RUN_DONE || r->status == RUN_STOPPED) ? r->m.value : NAN;
    if (!isfinite(v)) v = impute(sw, r, worst);
    if (!isfinite(v)) v = worst;
    return sw->goal == SWEEP_MAXIMIZE ? -v : v;
}

/* W&B's worst metric: the worst value any finished run logged; 0 when none. */
static double worst_metric(const Search *s, const Sweep *sw)
{
    double w = NAN;
    for (int i = 0; i < s->n; i++) {
        const SearchRun *r = &s->runs[i];
        if (r->state != S_FINISHED || !run_status_is_final(r->status) || !isfinite(r->m.worst)) continue;
        if (isnan(w) || (sw->goal == SWEEP_MAXIMIZE ? r->m.worst < w : r->m.worst > w))
            w = r->m.worst;
    }
    return isnan(w) ? 0.0 : w;
}

/* A proposal whose config the sweep does not have: 1 with *k and u, or 0
 * when the space looks exhausted. */
static int next_bayes(Search *s, const Sweep *sw, Cand *k, double *u)
{
    int D = s->n_dims;
    Bayes *b = bayes_create(s->dims, D, sw->hash, NULL);
    double worst = worst_metric(s, sw);
    const double **pending = nn_malloc((size_t)(s->n + 4) * sizeof *pending);
    double *retry = nn_malloc((size_t)3 * D * sizeof *retry);
    int n_pending = 0;
    for (int i = 0; i < s->n; i++) {
        const SearchRun *r = &s->runs[i];
        const double *ui = s->u + (size_t)i * D;
        if (r->state == S_FINISHED && run_status_is_final(r->status))
            bayes_observe(b, ui, observed_y(sw, r, worst));
        else if (r->state != S_FINISHED)
            pending[n_pending++] = ui;
    }
    int found = 0;
    for (int attempt = 0; attempt < 103 && !found; attempt++) {
        if (attempt < 4) {
            bayes_propose(b, pending, n_pending, u);
        } else { /* uniform points, keyed by the sweep, its size and the attempt */
            uint64_t hi = rng_stream(RNG_STREAM_BAYES, 0xfa11bac4ull << 20 | (uint64_t)attempt);
            for (int d = 0; d < D; d++)
                u[d] = rng_uniform_at(sw->hash, hi, (uint64_t)s->n << 16 | (uint64_t)d);
        }
        cand_from_unit(s, sw, u, k);
        found = find_id(s, sw, k->id) < 0;
        if (!found && attempt < 3) { /* propose again with this point pending */
            memcpy(retry + (size_t)attempt * D, u, (size_t)D * sizeof *u);
            pending[n_pending++] = retry + (size_t)attempt * D;
        }
    }
    free(retry);
    free(pending);
    bayes_free(b);
    if (found) { /* the coordinates of the config, as for every run */
        NnError err;
        NN_CHECK(cand_unit(s, sw, k, u, &err) == NN_OK, "a proposal's config: %s", err.msg);
    }
    return found;
}

/* ---- the strategy ------------------------------------------------------------------ */

static SweepNext search_peek(SweepStrategy *self, Sweep *sw, int *run)
{
    Search *s = (Search *)self;
    if (s->peeked >= 0) {
        *run = s->peeked;
        return SWEEP_NEXT_RUN;
    }
    while (s->next_open < s->n && s->runs[s->next_open].state != S_OPEN) s->next_open++;
    if (s->next_open < s->n) { /* adopted from the file, not finished: again */
        *run = s->peeked = s->next_open;
        return SWEEP_NEXT_RUN;
    }
    if (s->done) return SWEEP_NEXT_DONE;
    if (sw->run_cap > 0 && sw->n_runs >= sw->run_cap) {
        s->done = 1;
        return SWEEP_NEXT_DONE;
    }
    if (s->failed_in_row >= SWEEP_FAILED_IN_ROW) {
        snprintf(s->why, sizeof s->why, "its last %d runs failed (see their messages): no more "
                 "runs", s->failed_in_row);
        s->done = 1;
        return SWEEP_NEXT_DONE;
    }
    Cand k = {0};
    double *u = nn_malloc((size_t)(s->n_dims ? s->n_dims : 1) * sizeof *u);
    int found = s->bayes ? next_bayes(s, sw, &k, u) : next_random(s, sw, &k);
    if (found) *run = s->peeked = add_run(s, sw, &k, u, 0);
    nn_buf_free(&k.json);
    free(u);
    if (!found) {
        snprintf(s->why, sizeof s->why, "every new %s gave a config it has already run: its "
                 "space is exhausted", s->bayes ? "proposal" : "draw");
        s->done = 1;
        return SWEEP_NEXT_DONE;
    }
    return SWEEP_NEXT_RUN;
}

static void search_take(SweepStrategy *self, Sweep *sw, int run)
{
    (void)sw;
    Search *s = (Search *)self;
    NN_CHECK(run == s->peeked, "search strategy: took run %d, %d was peeked", run, s->peeked);
    s->runs[run].state = S_TAKEN;
    s->peeked = -1;
}

static void search_on_result(SweepStrategy *self, Sweep *sw, int run, const RunSummary *sum,
                             const SweepRunMetric *m)
{
    (void)sw;
    Search *s = (Search *)self;
    NN_CHECK(run >= 0 && run < s->n, "search strategy: result of unknown run %d", run);
    SearchRun *r = &s->runs[run];
    if (s->peeked == run) s->peeked = -1;
    r->state = S_FINISHED;
    r->status = sum->status;
    r->m = *m;
    if (sum->status == RUN_FAILED) s->failed_in_row++;
    else if (sum->status != RUN_INTERRUPTED) s->failed_in_row = 0;
}

static NnStatus search_adopt(SweepStrategy *self, Sweep *sw, const char *run_id,
                             const char *config_json, int *run, NnError *err)
{
    Search *s = (Search *)self;
    Cand k = {0};
    NnError why;
    if (sw->program) { /* the file holds the JSON the sweep made */
        nn_buf_append(&k.json, config_json, strlen(config_json));
        config_run_id_text(k.json.data, k.json.len, sw->name, k.id);
    } else {
        config_defaults(&k.c);
        if (config_from_json(&k.c, config_json, &why) != NN_OK)
            return nn_error_set(err, NN_ERR_INPUT, "run %s: its config cannot be read (%.300s)",
                                run_id, why.msg);
        config_run_id(&k.c, sw->name, k.id);
    }
    double *u = nn_malloc((size_t)(s->n_dims ? s->n_dims : 1) * sizeof *u);
    NnStatus st = cand_unit(s, sw, &k, s->bayes ? u : NULL, &why);
    const char *id = k.id;
    if (st != NN_OK)
        nn_error_set(err, NN_ERR_INPUT, "run %s is not one the sweep can make: %.300s", run_id,
                     why.msg);
    else if (strcmp(id, run_id) != 0)
        st = nn_error_set(err, NN_ERR_INPUT, "run %s: its id is not the one of its config in "
                          "this sweep (%s)", run_id, id);
    else if (find_id(s, sw, id) >= 0)
        st = nn_error_set(err, NN_ERR_INPUT, "run %s is in the file twice", run_id);
    if (st == NN_OK) *run = add_run(s, sw, &k, u, 1);
    nn_buf_free(&k.json);
    free(u);
    return st;
}

static const char *search_why(SweepStrategy *self)
{
    Search *s = (Search *)self;
    return s->why[0] ? s->why : NULL;
}

static void search_destroy(SweepStrategy *self)
{
    Search *s = (Search *)self;
    if (!s) return;
    free(s->dims);
    free(s->runs);
    free(s->u);
    free(s->slots);
    free(s);
}

SweepStrategy *sweep_search_strategy(const Sweep *sw)
{
    NN_CHECK(sw->space && sw->n_runs == 0, "sweep %s: a search strategy needs the sweep's space "
             "and no runs yet", sw->name);
    Search *s = nn_calloc(1, sizeof *s);
    s->base = (SweepStrategy){.peek = search_peek, .take = search_take,
                              .on_result = search_on_result, .destroy = search_destroy,
                              .adopt = search_adopt, .why_done = search_why};
    s->bayes = sw->method == SWEEP_BAYES;
    s->doc = &sw->space->doc;
    if (s->bayes && sw->program) {
        s->dims = nn_malloc((size_t)(program_doc_dims(s->doc, NULL) + 1) * sizeof *s->dims);
        s->n_dims = program_doc_dims(s->doc, s->dims);
    } else if (s->bayes) {
        s->dims = nn_malloc((size_t)s->doc->n_params * sizeof *s->dims);
        s->n_dims = doc_dims(s->doc, s->dims, NULL);
    }
    s->slots = nn_calloc(16, sizeof *s->slots);
    s->mask = 15;
    s->peeked = -1;
    return &s->base;
}
