/* sweep_internal.h - what the sweep module's files share: one document's
 * parsed and checked spec (sweep_parse.c: the top-level keys; sweep_param.c:
 * the parameters), the space a sweep keeps of it (sweep_space.c: configs
 * from grid levels, draws and unit coordinates, and back), its expansion
 * (sweep_expand.c), the strategies (strategy.c, strategy_search.c) and the
 * stopping rule (hyperband.c); sweep_load.c reads files and builds the set. */
#ifndef NNSWEEP_SWEEP_INTERNAL_H
#define NNSWEEP_SWEEP_INTERNAL_H

#include <stdint.h>
#include <stdio.h>

#include "nnsweep/program.h"
#include "nnsweep/sweep.h"
#include "nnsweep/yamltree.h"
#include "sweep/sweep_dist.h"

/* One leaf of `parameters` (or a --set override): a run config key and the
 * values it takes. Nodes are borrowed from the document tree (which a
 * SweepSpace owns once loaded). */
typedef struct ParamSpec {
    const char *key;  /* run config key (the key table's string) */
    char *path;       /* "parameters.opt.parameters.learning_rate", owned */
    int line;         /* of the leaf's key */
    int config_index;
    ConfigType type;
    /* DIST_CONSTANT for value and --set, DIST_CATEGORICAL(_PROB) for values,
     * else a distribution with its fields (probabilities -> probs) */
    DistSpec dist;
    double *probs;      /* (dist.n_values) categorical_w_probabilities, owned */
    const YNode *one;   /* value */
    const YNode *list;  /* values (a non-empty list) */
    char *text;         /* --set: one value as flag text, owned */
    int n_levels;       /* grid: values, max - min + 1 (int_uniform) or W&B's
                           arange(min, max, q) count (q_uniform); 0 otherwise */
} ParamSpec;

/* Sets level i of a grid parameter (a value of the list, min + i, or
 * min + i q) in c. */
NnStatus param_apply_level(RunConfig *c, const ParamSpec *p, int i, const char *file,
                           NnError *err);
/* Sets the value at uniform u: dist_sample (random search) or
 * dist_from_unit (the Bayesian search's coordinate), u clamped to
 * dist_u01's range. The value was checked when the file was loaded: a
 * failure is a programmer error (NN_CHECK). */
void param_apply_sample(RunConfig *c, const ParamSpec *p, double u);
void param_apply_unit(RunConfig *c, const ParamSpec *p, double u);
/* The unit coordinate of c's value of p (dist_to_unit; a categorical's
 * value found among the listed ones by canonical JSON): 1 and *u, or 0
 * when the value is not one p can take. */
int param_unit_of(const RunConfig *c, const ParamSpec *p, double *u);

/* W&B's hyperband (early_terminate). */
typedef struct HyperbandSpec {
    int on;
    int line;          /* of `early_terminate` */
    int has_max;       /* max_iter and s given (else min_iter) */
    long max_iter, s, min_iter;
    double eta;
    int strict;
} HyperbandSpec;

typedef struct ProgramParams ProgramParams; /* sweep_program.c */

/* One sweep document after parsing and checks, before expansion. */
typedef struct SweepDoc {
    const char *file;
    const YNode *root;
    char *name;        /* given or derived; owned */
    int name_line;     /* of the name key, or of the document */
    char *description; /* owned, may be NULL */
    SweepMethod method;
    int run_cap;       /* 0: none */
    int run_cap_line;
    int has_metric;    /* the document has `metric` (or --metric) */
    SweepMetric metric;
    int metric_line;
    SweepGoal goal;
    double target;     /* NaN: none */
    SweepImpute impute;
    HyperbandSpec hb;
    int params_line;   /* of the `parameters` key */
    int n_params;
    ParamSpec *params; /* (n_params) leaves in document order, owned */
    /* a program sweep (`program` or `command` given): its spec, its metric's
     * name (NULL: none) and its free parameters instead of params; owned */
    int is_program;
    ProgramSpec *program;
    char *metric_name;
    ProgramParams *pparams;
} SweepDoc;

/* Parses and checks one document (a mapping at root). `default_name` is used
 * when the document has no name. Notices go to `notices` (may be NULL).
 * *doc is owned by the caller (sweep_doc_free). */
NnStatus sweep_doc_parse(const YNode *root, const char *file, const char *default_name,
                         FILE *notices, SweepDoc *doc, NnError *err);
void sweep_doc_free(SweepDoc *doc); /* accepts NULL */

/* Parses `parameters` (the node at root's key index i) into doc->params:
 * nested groups flattened, every form checked (sweep_param.c). */
NnStatus sweep_doc_parse_params(SweepDoc *doc, const YNode *params, FILE *notices, NnError *err);
/* After overrides: checks that need the whole sweep (a val_* metric needs a
 * validation split in every run a search can make). */
NnStatus sweep_doc_check(const SweepDoc *doc, NnError *err);

/* "file:line: " + a formatted message, as NN_ERR_INPUT. */
NnStatus sweep_failf(NnError *err, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* 1 when s is a valid sweep name (sweep.h). */
int sweep_name_valid(const char *s);

/* Applies the overrides to a parsed document (sweep_override.c): --set
 * values replace or join its parameters, --metric its metric, the suffix
 * goes on its name. NN_ERR_INPUT naming file:line when the suffixed name is
 * not valid. */
NnStatus sweep_doc_override(SweepDoc *doc, const SweepOverrides *o, NnError *err);

/* What a sweep keeps of its document: the tree (owned) and the parsed doc
 * whose nodes point into it. Search strategies and sweep_describe read it. */
struct SweepSpace {
    YNode *root;
    SweepDoc doc;
};
void sweep_space_free(SweepSpace *s); /* accepts NULL */

/* A config from the defaults and every parameter (sweep_space.c): at draw
 * `draw` of the random search (sweep.h: Philox keyed by hash), or at unit
 * coordinates u (one per searched parameter, doc_dims' order). */
void doc_config_from_draw(const SweepDoc *d, uint64_t hash, uint64_t draw, RunConfig *c);
void doc_config_from_unit(const SweepDoc *d, const double *u, RunConfig *c);
/* The Bayesian search's dimensions: one per parameter that is not a
 * constant (dist_bayes_dim), into dims (room for d->n_params) with the
 * parameter index of each in param (may be NULL). Returns the count. */
int doc_dims(const SweepDoc *d, BayesDim *dims, int *param);
/* The unit coordinates of a config (doc_dims' order; u may be NULL to only
 * check): NN_OK, or NN_ERR_INPUT naming the first key whose value the sweep
 * cannot produce (a parameter's, or a key the sweep does not set that is
 * not at its default). */
NnStatus doc_unit_of_config(const SweepDoc *d, const RunConfig *c, double *u, NnError *err);

/* The most epochs a run of the sweep can have. */
int doc_max_epochs(const SweepDoc *d);

/* Expands a parsed document into out->runs (grid, random with run_cap) and
 * fills out->params; `hash` keys random draws. A search sweep (random
 * without run_cap, bayes) gets no runs, only its params. Fills only the
 * fields named; the caller sets the rest of *out. On error frees what it
 * allocated. */
NnStatus sweep_doc_expand(const SweepDoc *doc, uint64_t hash, FILE *notices, Sweep *out,
                          NnError *err);
/* Plans run r once (the config's checks and the model's shapes) and keeps
 * its cost and state layout; the description goes to describe when not
 * NULL. */
NnStatus sweep_plan_run(SweepRun *r, NnBuf *describe, NnError *err);

/* Program sweeps (sweep_program.c): the spec from the document's program
 * and command keys, checked (program_check: the program and its
 * executable are found); the free parameters (nested groups included)
 * checked against their distributions; the expansion, as
 * sweep_doc_expand; and what the document owns for them. */
NnStatus program_doc_spec(SweepDoc *doc, const YNode *root, NnError *err);
NnStatus program_doc_params(SweepDoc *doc, const YNode *params, NnError *err);
NnStatus program_doc_expand(const SweepDoc *doc, uint64_t hash, FILE *notices, Sweep *out,
                            NnError *err);
NnStatus program_doc_check(const SweepDoc *doc, NnError *err);
void program_doc_free(SweepDoc *doc);
/* The search space of a program sweep (random without run_cap, bayes), as
 * doc_dims, doc_config_from_unit/_draw and doc_unit_of_config are for the
 * built-in trainer's: the dimensions (one per leaf that is not a constant;
 * dims may be NULL to count them), a run's config JSON at unit coordinates
 * or at a draw (appended to json), the coordinates of a config JSON (u may
 * be NULL to only check; NN_ERR_INPUT naming the first value the sweep
 * cannot produce). */
int program_doc_dims(const SweepDoc *d, BayesDim *dims);
void program_doc_json_from_unit(const SweepDoc *d, const double *u, NnBuf *json);
void program_doc_json_from_draw(const SweepDoc *d, uint64_t hash, uint64_t draw, NnBuf *json);
NnStatus program_doc_unit_of_json(const SweepDoc *d, const char *json, double *u, NnError *err);
/* Appends a program run of config json (taken: owned by the run) to sw,
 * with its id; returns its index. For strategies, as sweep_add_run. */
int sweep_add_program_run(Sweep *sw, char *json);

/* Open addressing over runs' canonical JSON (duplicates): slot = run
 * index + 1, 0 = empty. run_table_find_or_add returns the index of the run
 * with this JSON, or -1 after reserving its slot for index `next`. Free
 * slots with free(). */
typedef struct RunTable {
    int *slots;
    size_t mask;
} RunTable;
void run_table_init(RunTable *t, int max_runs);
int run_table_find_or_add(RunTable *t, const SweepRun *runs, const char *json, int next);

/* Frees runs[0..n) and their members; accepts NULL with n 0. */
void sweep_runs_free(SweepRun *runs, int n);

/* The search strategies over sw->space (strategy_search.c): random draws
 * without a run_cap, or bayes. */
SweepStrategy *sweep_search_strategy(const Sweep *sw);

/* The hyperband stopping rule of spec (hyperband.c) for runs of at most
 * max_epochs epochs (later rungs are dropped), or NULL with NN_ERR_INPUT
 * naming file:line when its rungs are empty or too many. */
SweepStopRule *sweep_hyperband_create(const HyperbandSpec *spec, int max_epochs, const char *file,
                                      NnError *err);

/* Replaces the "file:line: key" prefix that config_set_node writes with
 * "file:line: path" so that messages name the place in the sweep file. */
void sweep_error_path(NnError *err, const char *file, int line, const char *key,
                      const char *path);

#endif
