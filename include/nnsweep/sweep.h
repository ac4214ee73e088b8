/* sweep.h - sweep files (YAML, Weights & Biases' sweep format) and what the
 * scheduler asks of a sweep: its search strategy and its stopping rule.
 *
 * A sweep file holds one or more YAML documents; each document is one sweep.
 * Every key of W&B's sweep schema (wandb/sweeps, config/schema.json) is
 * accepted with W&B's meaning or refused with a message that says why:
 *
 *   name: mlp_sgd          optional; [A-Za-z0-9_][A-Za-z0-9_.-]*, at most 64
 *                          characters (an HDF5 group name); default: the
 *                          file's stem, plus _<k> (1-based document number)
 *                          when the file holds several sweeps
 *   description: text      optional, kept
 *   method: grid           required: grid | random | bayes (custom: refused,
 *                          it needs W&B's scheduler engines)
 *   run_cap: 20            optional, 1..SWEEP_MAX_RUNS; `count` is nnsweep's
 *                          older name for it. grid: the first run_cap
 *                          combinations; random and bayes without it run
 *                          until stopped (a signal, metric.target, the Slurm
 *                          time limit, a sweep whose last SWEEP_FAILED_IN_ROW
 *                          runs failed) and --resume continues them
 *   metric:                optional for grid and random (default test_accuracy,
 *                          maximize), required for bayes and early_terminate
 *     name: val_accuracy   train_loss | train_accuracy | val_loss | val_accuracy
 *                          | test_loss | test_accuracy (val_* need val_split >
 *                          0 in every run)
 *     goal: maximize       maximize | minimize; default minimize (W&B's), with a
 *                          notice when an accuracy is minimized by default
 *     target: 0.55         the sweep hands out no more runs once a run's metric
 *                          at some epoch reaches it (>= when maximizing, <=
 *                          when minimizing); running runs go on to their end
 *     impute: worst        worst | best | latest: what bayes observes for a
 *                          failed or diverged run (W&B's: worst = the worst
 *                          value any finished run logged, best / latest = the
 *                          run's own best / last value; 0 when there is none)
 *     impute_while_running: false   only false: running runs are pending
 *                          points of the search (bayes.h), never observations
 *   early_terminate:       optional: W&B's hyperband (src/sweep/hyperband.c)
 *     type: hyperband      required
 *     max_iter: 27, s: 3   rungs at int(max_iter / eta^i), i = 1..s, >= 1; or
 *     min_iter: 1          rungs at int(min_iter eta^i), i = 0, 1, ... (with
 *                          both, max_iter wins, as in W&B, with a notice)
 *     eta: 3               > 1, default 3: a run goes on past a rung when its
 *                          metric there is in the best 1/eta of the runs that
 *                          reached it
 *     strict: true         default true (W&B's): compare the metric at the
 *                          rung; false: the run's best metric so far
 *   parameters:            required, at least one; see Parameters
 *   program, command:      a program sweep (Program sweeps below, program.h)
 *   entity, project, controller, kind, apiVersion:
 *                          checked as the schema types them and ignored with
 *                          a notice
 *   refused, with why: metrics (multi-objective, needs method custom),
 *                          scheduler (W&B's engines), job and image_uri (W&B
 *                          Launch), any key the schema does not have.
 *
 * Parameters. Each key of `parameters` is a run config key (config.h) with
 * one of W&B's forms (sweep_dist.h has each distribution's meaning):
 *   value: V                        constant (distribution: constant)
 *   values: [V, ...]                categorical, uniform over the values
 *   values + probabilities          categorical_w_probabilities
 *   distribution: int_uniform       integers in [min, max]
 *   distribution: uniform | q_uniform | log_uniform | q_log_uniform |
 *     inv_log_uniform (min, max: natural-log exponents) | log_uniform_values |
 *     q_log_uniform_values | inv_log_uniform_values (min, max: the values) |
 *     normal | q_normal | log_normal | q_log_normal (mu, sigma) |
 *     beta | q_beta (a, b); q: the quantum of the q_ kinds (default 1)
 *   min/max without distribution    int_uniform when both are integers, else
 *                                   uniform (W&B's inference)
 *   parameters: {...}               a nested group (below)
 * Each form takes only its own fields (W&B's schema), and W&B's defaults
 * (mu 0, sigma 1, q 1, a 1, b 1). List-valued keys (hidden_layers,
 * conv_layers, betas) take value/values only: `value: [256, 256]` is one
 * value, `values: [[32], [64]]` a list of values; booleans and names too.
 * Integer keys take int_uniform, or a q_ kind with an integer q; real keys
 * every distribution. Every value a parameter can take is checked against
 * its key's range when the file is loaded: the listed values, min and max,
 * and for the other distributions the extreme values a draw can reach
 * (dist_from_unit at the ends of dist_u01's range: a normal on dropout is
 * refused, a beta accepted). Method grid takes value, values, int_uniform
 * (every integer) and q_uniform (min, min + q, ... below max), as W&B.
 *
 * Nested groups. `group: {parameters: {...}}` nests parameters, to any depth;
 * nnsweep's run config is flat, so each leaf names a run config key: of the
 * names on its path (group names, then its own) joined by '_', the longest
 * tail that is a run config key (`warmup: {parameters: {epochs: ...}}` is
 * warmup_epochs; `optimizer: {parameters: {learning_rate: ...}}` is
 * learning_rate). A key set twice in one sweep is an error naming both
 * lines. Leaves count in document order, depth first.
 *
 * Program sweeps. A document with `program` or `command` (program.h says
 * how they run) sweeps the user's program instead of the built-in
 * trainer: its parameters are the program's own names, nested groups kept
 * as groups (each group one dict value, as W&B passes it), every form and
 * distribution above with W&B's checks (sweep_dist.h), method grid with
 * value and values only; metric.name is any name the program logs (1..63
 * bytes), and its rows are the runs' history (hyperband's rungs count the
 * rows that carry it). A run's config is the JSON of its values
 * (program_value_json: what W&B's agent passes as ${args_json}), its id
 * config_run_id_text of that and the sweep's name, its cost 1 (runs go
 * out in expansion order); its RunConfig is unused and it has no tensors.
 * random without run_cap and bayes search the same unit cube, over JSON
 * configs (sweep_program_add_run). --set and --metric do not apply to
 * program sweeps (an error); --name-suffix does. The program and its
 * executable are checked when the file is loaded (program_check).
 *
 * Runs. Each run is config_defaults() with the sweep's parameters set in
 * order (config_set_node, or config_set_text for a number in its shortest
 * round-trip form), then planned (run_plan_create: the config's checks and
 * the model's shapes), which gives its cost and its state layout. A run's id
 * is config_run_id(config, sweep name); a config appears at most once in a
 * sweep.
 *  - grid: the cartesian product, the first parameter varying slowest
 *    (itertools.product order), expanded when the file is loaded; a
 *    combination that fails its plan is an error naming the file, the sweep,
 *    the combination and its values. Duplicate configs are dropped with a
 *    notice (the seed study's Adam list repeats 0.01 and 0.02).
 *  - random with run_cap: expanded when loaded, draws with rng.h's Philox:
 *    key = hash, counter hi = rng_stream(RNG_STREAM_SWEEP, hash), lo = draw
 *    << 16 | parameter index (Sweep.hash: the sweep's name and its document
 *    as JSON, so that comments and formatting do not change the draws); one
 *    53-bit uniform per parameter and draw, mapped by dist_sample. Draws go
 *    on until run_cap distinct runs or 10 x run_cap + 1000 draws (a notice
 *    then); a draw that fails its plan is an error, as for grid.
 *  - random without run_cap and bayes: a search strategy adds runs while
 *    the sweep runs (strategy_search.c): random the same draws, one at a
 *    time; bayes the proposals of bayes.h. A proposal whose plan fails (a
 *    CNN too deep for its input) is still a run: it goes to a worker, fails
 *    there at once with the planner's message, is recorded `failed`, counts
 *    for run_cap, and bayes imputes it, as W&B imputes a run that crashed,
 *    so the search learns to avoid the region. `nnsweep expand` shows their
 *    space and first proposals instead of a list of runs.
 *
 * Metric. A run's value of the sweep metric is the metric at the run's best
 * epoch, the one select_on picks and whose weights the results file keeps
 * (W&B's summary would be the last logged value, its bayes the extremum
 * over the run): the leaderboard, `nnsweep evaluate` and the search then
 * describe the same model, and a test metric is never selected on the test
 * set. When the metric is select_on's own (val or test accuracy) this is the
 * run's best value, as W&B's bayes takes it. Hyperband and target use each
 * epoch's value (W&B's history: epoch k is its k-th logged value).
 *
 * Errors: NN_ERR_INPUT with one message "file:line: key.path: what was
 * expected, found what", e.g.
 *   jobs/mlp.yaml:12: parameters.learning_rate.values[2]: expected a number in
 *   (0, 1e6], found "fast"
 * Sweep names must be unique across the files of one load. Notices (ignored
 * keys, defaults worth knowing, dropped duplicates) go to a stream the
 * caller names, one line each, "file:line: notice: ...".
 *
 * Overrides (SweepOverrides, `nnsweep sweep|expand --set KEY=VALUE --metric
 * NAME[:GOAL] --name-suffix SUFFIX`) change every sweep of a load, so that
 * one set of files serves variants of a study (the seed study with a
 * validation split: jobs/README.md):
 *  - set: run config key KEY is VALUE in every run, VALUE read as
 *    `nnsweep train --KEY VALUE` reads it (config_set_text: "5000",
 *    "val_accuracy", "256,256"); a parameter of the sweep with that key is
 *    replaced by this one value in its place, else it is added after the
 *    sweep's own parameters;
 *  - metric: the sweep's metric name, and its goal when given;
 *  - name suffix: appended to every sweep's name (given or derived); the
 *    result must be a valid name, unique across the load.
 * Random draws and the Bayesian search stay keyed by the document as
 * written (its own name and values), so an override changes only what it
 * names. Each sweep records the overrides as option text (Sweep.overrides),
 * which the results file keeps beside the spec.
 *
 * Ownership: a SweepSet owns its sweeps and everything in them (their
 * strategies and stopping rules too); sweep_set_free releases it (and
 * accepts NULL or a zeroed set).
 */
#ifndef NNSWEEP_SWEEP_H
#define NNSWEEP_SWEEP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "nnsweep/config.h"
#include "nnsweep/core.h"
#include "nnsweep/outcome.h"
#include "nnsweep/program.h"
#include "nnsweep/tensor.h"

#define SWEEP_MAX_RUNS 100000   /* per sweep: grid product, run_cap */
#define SWEEP_NAME_MAX 64       /* characters of a sweep name */
#define SWEEP_FAILED_IN_ROW 20  /* a search sweep whose last 20 runs failed ends */

typedef enum SweepMethod { SWEEP_GRID = 0, SWEEP_RANDOM, SWEEP_BAYES } SweepMethod;
/* The metrics a sweep can rank by: the fields of EpochMetrics (outcome.h). */
typedef enum SweepMetric {
    SWEEP_TEST_ACCURACY = 0,
    SWEEP_VAL_ACCURACY,
    SWEEP_TRAIN_ACCURACY,
    SWEEP_TRAIN_LOSS,
    SWEEP_VAL_LOSS,
    SWEEP_TEST_LOSS,
    SWEEP_N_METRICS
} SweepMetric;
typedef enum SweepGoal { SWEEP_MAXIMIZE = 0, SWEEP_MINIMIZE } SweepGoal;
typedef enum SweepImpute { SWEEP_IMPUTE_WORST = 0, SWEEP_IMPUTE_BEST, SWEEP_IMPUTE_LATEST } SweepImpute;

/* "grid", "random", "bayes"; "test_accuracy", ...; "maximize", "minimize";
 * "worst", "best", "latest" */
const char *sweep_method_name(SweepMethod m);
const char *sweep_metric_name(SweepMetric m);
const char *sweep_goal_name(SweepGoal g);
const char *sweep_impute_name(SweepImpute i);
/* 0 and *m set when name is one of the metric names, else -1. */
int sweep_metric_from_name(const char *name, SweepMetric *m);

typedef struct SweepRun {
    char id[13];      /* config_run_id(&config, sweep name): 12 hex digits */
    RunConfig config; /* validated, shapes included (but see below) */
    char *json;       /* canonical config JSON (config_to_json), owned */
    double cost;      /* training flops: per image x epochs x training images;
                         0 for a search's run whose plan failed (it will fail) */
    /* the state layout of the run's model (its ModelPlan's, model.h); 0 and
     * NULL for a search's run whose plan failed */
    size_t n_params, n_state;
    int n_tensors;
    TensorInfo *tensors; /* (n_tensors), owned */
} SweepRun;

typedef struct SweepParam {
    char *key;  /* run config key, owned */
    int line;   /* line of the key in the file */
    int varies; /* the key takes more than one value across the sweep's runs
                   (search sweeps: it is searched) */
} SweepParam;

typedef struct Sweep Sweep;
typedef struct SweepSpace SweepSpace; /* the parsed parameters (sweep module) */

/* ---- search strategies and stopping rules --------------------------------
 * The scheduler core (sched.h) asks every sweep two questions, through two
 * objects that the sweep owns: its strategy "which run next?" and its
 * stopping rule "should this run stop after epoch k?". An implementation
 * embeds the struct as its first member and fills the function pointers.
 * Runs are indices into sw->runs; a strategy may append runs there
 * (sweep_add_run: a search that proposes from the results so far), never
 * remove or reorder them; an append may move sw->runs (realloc).
 *
 * grid and random with run_cap (and a one-run sweep of `nnsweep train`) use
 * the list strategy: the runs expanded when the file was loaded, most
 * expensive first (cost, then expansion order), each once. random without
 * run_cap and bayes use the search strategies (strategy_search.c). */
typedef enum SweepNext {
    SWEEP_NEXT_RUN = 0, /* *run is the run to hand out next */
    SWEEP_NEXT_WAIT,    /* none before more results come in */
    SWEEP_NEXT_DONE,    /* the sweep will hand out nothing more */
} SweepNext;

/* What the core knows of a finished run's sweep metric. */
typedef struct SweepRunMetric {
    double value; /* at its best epoch (Metric above); NaN when none */
    /* over the epochs 1.. it finished (W&B's history): its best and worst
     * value for the sweep's goal and its last one; NaN when none */
    double best, worst, latest;
} SweepRunMetric;

typedef struct SweepStrategy SweepStrategy;
struct SweepStrategy {
    /* The run to hand out next, without handing it out: asked again before
     * take() or on_result(), it gives the same answer. A run it appends to
     * sw->runs to answer is handed out later in any case. */
    SweepNext (*peek)(SweepStrategy *self, Sweep *sw, int *run);
    /* The run that peek gave is handed out. */
    void (*take)(SweepStrategy *self, Sweep *sw, int run);
    /* A run ended (any status), or was found finished in the results file
     * before this session (then before the first peek). */
    void (*on_result)(SweepStrategy *self, Sweep *sw, int run, const RunSummary *s,
                      const SweepRunMetric *m);
    void (*destroy)(SweepStrategy *self);
    /* Resume of a search sweep (NULL for the list strategy, whose runs are
     * known from the file and compared with it): a run of the sweep found
     * in the results file, with its id and canonical config JSON, before
     * the first peek, in the file's order. It is appended to sw->runs and
     * its index returned in *run; NN_ERR_INPUT when the config is not one
     * the sweep can produce (the file's sweep differs from this one). */
    NnStatus (*adopt)(SweepStrategy *self, Sweep *sw, const char *run_id, const char *config_json,
                      int *run, NnError *err);
    /* After peek said DONE: why, when the sweep ended before its run_cap
     * (its runs kept failing, its space is exhausted); NULL otherwise or
     * when the pointer is NULL. The text belongs to the strategy. */
    const char *(*why_done)(SweepStrategy *self);
};

typedef struct SweepStopRule SweepStopRule;
struct SweepStopRule {
    /* The epochs after which it decides, ascending (the same for every run
     * of the sweep): a worker waits for the verdict there, and trains on
     * without waiting after any other epoch. */
    int n_epochs;
    const int *epochs;
    /* Run `run` finished `epoch` (one of epochs) with the sweep metric
     * `value` of that epoch (NaN when not measured), after observe() was
     * told of it: nonzero = stop it now (it ends RUN_STOPPED, keeping its
     * best weights). */
    int (*decide)(SweepStopRule *self, Sweep *sw, int run, int epoch, double value);
    void (*destroy)(SweepStopRule *self);
    /* Every epoch >= 1 of every run of the sweep, in epoch order per run:
     * this session's as they end, and a resumed file's finished runs before
     * the first hand-out. NULL: the rule needs only decide's arguments. */
    void (*observe)(SweepStopRule *self, Sweep *sw, int run, int epoch, double value);
};

/* The list strategy over sw->runs as they are now (strategy.c). */
SweepStrategy *sweep_list_strategy(const Sweep *sw);

struct Sweep {
    char *name;        /* unique in its set; owned */
    char *file;        /* the path as given; owned */
    int line;          /* first line of the document's mapping */
    int doc_index;     /* 0-based, among the file's sweep documents */
    char *spec;        /* the document's YAML text, exactly as in the file: from
                          the end of the previous document (libyaml's marks) to
                          its own end, the last one to the end of the file, so
                          the specs of a file add up to it (empty documents
                          aside); owned */
    char *description; /* NULL when absent; owned */
    char *overrides;   /* the load's overrides as options ("--set val_split=5000
                          --name-suffix _val"), NULL when none; owned */
    SweepMethod method;
    int run_cap;       /* 0: none (grid: every combination; random, bayes:
                          until stopped) */
    SweepMetric metric;
    SweepGoal goal;
    double target;     /* metric.target; NaN: none */
    SweepImpute impute;
    uint64_t hash;     /* the name and the document as JSON: keys the random
                          draws and the Bayesian search */
    int n_params;
    SweepParam *params; /* (n_params) leaves in document order, owned */
    int n_runs, cap_runs;
    SweepRun *runs;   /* (n_runs) in expansion (or proposal) order, owned;
                         capacity cap_runs */
    int n_duplicates; /* identical runs dropped */
    int open;         /* runs accumulate in the results file across sessions
                         (`nnsweep train --out`'s sweep "train"): runs of the
                         file that the set lacks are kept as they are */
    SweepSpace *space;       /* owned; NULL for a sweep built in code */
    SweepStrategy *strategy; /* owned; never NULL in a loaded set */
    SweepStopRule *stop;     /* owned; NULL: every run goes to its end */
    /* a program sweep: its program, and metric.name (NULL: none), owned by
     * its space; NULL for the built-in trainer's sweeps */
    ProgramSpec *program;
    char *metric_name;
};

typedef struct SweepSet {
    int n_sweeps;
    Sweep *sweeps; /* (n_sweeps) in file and document order, owned */
    int n_runs;    /* total over the sweeps when loaded (search sweeps add
                      theirs as they run) */
} SweepSet;

/* What a load changes in every sweep (see Overrides above). Zeroed: no
 * override. Strings owned (sweep_overrides_free). */
typedef struct SweepOverrides {
    int n_set;
    char **set_keys;   /* (n_set) run config keys, each once, in order given */
    char **set_values; /* (n_set) their values as text */
    int has_metric, has_goal;
    SweepMetric metric;
    SweepGoal goal;
    char *name_suffix; /* NULL: none */
} SweepOverrides;

/* Adds one override from its option's value: "KEY=VALUE" (--set; '-' in
 * KEY reads as '_'), "NAME[:GOAL]" (--metric), "SUFFIX" (--name-suffix). A
 * key set again, the metric or the suffix given again: the last value
 * wins. NN_ERR_INPUT with a message that starts with the option ("--set
 * learning_rte: unknown key ... (did you mean 'learning_rate'? ...)",
 * "--set val_split: expected an integer in 0..49999, found \"x\"") when
 * the value is not valid; o is unchanged then. */
NnStatus sweep_overrides_set(SweepOverrides *o, const char *key_value, NnError *err);
NnStatus sweep_overrides_metric(SweepOverrides *o, const char *name_goal, NnError *err);
NnStatus sweep_overrides_name_suffix(SweepOverrides *o, const char *suffix, NnError *err);
/* Appends the overrides as options to out, in the order --set (as given),
 * --metric, --name-suffix, values quoted for a POSIX shell where needed;
 * nothing when there are none. */
void sweep_overrides_text(const SweepOverrides *o, NnBuf *out);
void sweep_overrides_free(SweepOverrides *o); /* accepts NULL; zeroes *o */

/* Parses and expands the sweeps of text (a whole YAML stream; `file` names
 * it in messages and derived names) with the overrides `over` (NULL: none)
 * and appends them to *set, which must be zeroed before the first call.
 * Notices go to `notices` (may be NULL). On error returns NN_ERR_INPUT with
 * the message in err and leaves *set as it was. */
NnStatus sweep_load_text(SweepSet *set, const char *text, size_t len, const char *file,
                         const SweepOverrides *over, FILE *notices, NnError *err);

/* Reads a file and appends its sweeps, as sweep_load_text; an unreadable or
 * empty file is NN_ERR_INPUT. */
NnStatus sweep_load_file(SweepSet *set, const char *path, const SweepOverrides *over,
                         FILE *notices, NnError *err);

/* Loads n_paths files into *set (zeroed first; on error it is left empty).
 * `over` (NULL: none) applies to every sweep. */
NnStatus sweep_load_files(SweepSet *set, const char *const *paths, int n_paths,
                          const SweepOverrides *over, FILE *notices, NnError *err);

/* Appends a sweep of one run built in code (`nnsweep train`) to *set
 * (zeroed before the first call): sweep `name` with the run of config c
 * (every input error of c comes out here, NN_ERR_INPUT), `spec` as its
 * text for the results file, the metric of c's select_on (maximize), open
 * (sweep.h: runs accumulate in a results file across sessions). The
 * model's description (model_plan_describe) is appended to describe when
 * it is not NULL. */
NnStatus sweep_set_add_one(SweepSet *set, const char *name, const char *spec, const RunConfig *c,
                           NnBuf *describe, NnError *err);

/* Appends a run of config c (checked: its keys set through the sweep's
 * parameters) to sw->runs, with its JSON, id and plan; a config whose plan
 * fails gets cost 0 and no state layout (its worker fails it with the
 * planner's message). Returns its index. For strategies. */
int sweep_add_run(Sweep *sw, const RunConfig *c);

/* Releases everything a set owns and zeroes it; accepts NULL. */
void sweep_set_free(SweepSet *set);

/* The run with this id, or NULL; *sweep (may be NULL) gets its sweep. */
const SweepRun *sweep_set_find_run(const SweepSet *set, const char *id, const Sweep **sweep);

/* The sweep metric: `m`'s field of one metrics row (the one place that says
 * which field a metric is), a row's for the sweep, and a finished run's at
 * its best epoch (Metric above): from the summary when the metric is val
 * or test accuracy, else at_best (the sweep metric of the run's metrics row
 * of its best epoch, NaN when unknown); NaN when not measured. */
double sweep_metric_of_row(SweepMetric m, const EpochMetrics *row);
double sweep_epoch_metric(const Sweep *sw, const EpochMetrics *m);
double sweep_run_metric(const Sweep *sw, const RunSummary *s, double at_best);
/* 1 when the summary holds the metric of a run (val and test accuracy). */
int sweep_metric_in_summary(SweepMetric m);
/* A program sweep's row: the value of its metric's name in it (NaN when
 * the row lacks it); a program's run: its best_value (sweep_run_metric).
 * The name of the sweep's metric: sweep_metric_name's, a program sweep's
 * metric.name, or "" when a program sweep has none. */
double sweep_row_metric(const Sweep *sw, const RunRow *row);
const char *sweep_metric_label(const Sweep *sw);
/* 1 when a is better than b for the sweep's goal; a NaN is never better. */
int sweep_metric_better(const Sweep *sw, double a, double b);
/* 1 when value reaches the sweep's target (never without one, or for NaN). */
int sweep_target_reached(const Sweep *sw, double value);
/* 1 when the core must know the metrics rows of the sweep's finished runs
 * on resume (a stopping rule, a search strategy, or a metric the summary
 * lacks): SchedPrior.metrics (sched.h). */
int sweep_needs_history(const Sweep *sw);

/* Training images of a run (50000 - val_split, cut to train_images). */
int sweep_train_images(const RunConfig *c);

/* What a sweep will do, for `nnsweep expand` (sweep_describe.c), appended
 * to out: a search sweep's parameters (each with its form, the range of
 * its values and, for bayes, how the search models it), the stopping
 * rule's rungs, and a search sweep's first n_proposals runs (<= 0: bayes's
 * initial design, or 10 draws; at most run_cap) as the strategy hands them
 * out before any result, one line each. Those runs are really proposed:
 * they join sw->runs, so use a set loaded only to be shown. Returns the
 * number of proposals shown (0 for a list sweep). */
int sweep_describe(Sweep *sw, int n_proposals, NnBuf *out);

#endif
