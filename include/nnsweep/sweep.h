/* sweep.h - sweep files (YAML, compatible with Weights & Biases sweep files)
 * and their expansion into run configs.
 *
 * A sweep file holds one or more YAML documents; each document is one sweep:
 *
 *   name: mlp_sgd                  # optional; [A-Za-z0-9_][A-Za-z0-9_.-]*, at most
 *                                  # 64 characters (an HDF5 group name); default:
 *                                  # the file's stem, plus _<k> (1-based document
 *                                  # number) when the file holds several sweeps
 *   description: text              # optional, kept
 *   method: grid                   # required: grid | random
 *   count: 20                      # random only, required there, 1..SWEEP_MAX_RUNS
 *                                  # (W&B's run_cap is read as count)
 *   metric: {name: test_accuracy, goal: maximize}
 *                                  # optional; name test_accuracy | val_accuracy
 *                                  # (val_accuracy needs val_split > 0 in every
 *                                  # run), goal maximize | minimize; the default is
 *                                  # test_accuracy / maximize. The metric ranks the
 *                                  # runs; the run config key select_on (which
 *                                  # metric picks a run's best epoch) is separate.
 *   parameters:                    # required, at least one; each key a run config
 *     learning_rate: {values: [0.1, 0.05]}    # key (config.h)
 *
 * A parameter is one of (as W&B defines them):
 *   value: V                          one value
 *   values: [V, ...]                  a non-empty list (distribution categorical
 *                                     may be written too)
 *   distribution: uniform, min, max   real numbers in [min, max), min < max
 *   distribution: log_uniform_values  exp(uniform(log min, log max)), 0 < min < max
 *   distribution: int_uniform         integers in [min, max], both included, min < max
 *   distribution: constant + value    one value
 *   min/max without distribution      int_uniform when both are integers, else
 *                                     uniform (W&B's inference)
 * List-valued keys (hidden_layers, conv_layers, betas): `value: [256, 256]` is
 * one value, `values: [[32], [64]]` a list of values. Every value is checked
 * against the key's type and range when the file is loaded; min and max are
 * checked as values of the key. uniform and log_uniform_values need a
 * real-number key (int_uniform an integer or real one); lists, names and
 * booleans take value/values only. Method grid takes value/values only.
 *
 * W&B's project and entity are accepted and ignored with a notice; any
 * other key (early_terminate, method bayes, nested parameters,
 * probabilities, W&B's log_uniform whose min/max are exponents, ...) is an
 * error that names it - in sweeps of the built-in trainer.
 *
 * Program sweeps. A document with `program` or `command` (program.h says
 * how they run) sweeps the user's program instead of the built-in
 * trainer: its parameters are the program's own (any names; nested groups
 * with `parameters`, passed as W&B passes them), each a W&B distribution
 * (value, values, categorical with probabilities, int_uniform, uniform,
 * log_uniform_values, q_*, normal, beta, ...: sweep_dist.h), checked
 * against it (method grid: value and values only); metric.name is any
 * name the program logs (none: no best run, no stopping rule). A run's
 * config is the JSON of its values (program_value_json: what W&B's agent
 * would pass as ${args_json}), its id config_run_id_text of it and the
 * sweep's name, its cost 1 (they go out in expansion order); its RunConfig
 * is unused and it has no tensors. --set and --metric do not apply to
 * program sweeps (an error); --name-suffix does. The program and its
 * executable are checked when the file is loaded (program_check).
 *
 * Expansion. Each run is config_defaults() with the sweep's parameters set
 * in document order (config_set_node, or config_set_text for a drawn
 * number in its shortest round-trip form), then planned once
 * (run_plan_create, train.h: the config's checks and the model's shapes);
 * a combination that fails (a CNN whose feature map shrinks below 1x1,
 * ...) is an error naming the file, the sweep, the run and its parameter
 * values. From the plan each run keeps its cost and its state layout (the
 * tensor table rank 0 writes into the results file); the plan itself is
 * freed.
 *  - grid: the cartesian product of every parameter's values, the first
 *    parameter varying slowest (itertools.product order).
 *  - random: draws with rng.h's Philox, key = h, counter hi =
 *    rng_stream(RNG_STREAM_SWEEP, h), lo = draw << 16 | parameter index, where h
 *    hashes the sweep name and the document's tree as JSON (so comments and
 *    formatting do not change the draws; any value does). One 53-bit uniform
 *    u per parameter and draw; categorical picks floor(u n). Draws go on
 *    until `count` distinct runs or 10 x count + 1000 draws (then a notice
 *    says how many were found): the same file always expands to the same runs.
 * Runs with identical canonical config JSON in one sweep are kept once and a
 * notice says how many duplicates were dropped (grid: the seed study's Adam
 * list repeats 0.01 and 0.02). A run's id is config_run_id(config, sweep
 * name); its cost is the plan's train_flops_per_image x epochs x training images
 * (50000 - val_split, cut to train_images when that is set: see
 * sweep_train_images), for handing out the most expensive runs first.
 *
 * Errors: NN_ERR_INPUT with one message "file:line: key.path: what was
 * expected, found what", e.g.
 *   jobs/mlp.yaml:12: parameters.learning_rate.values[2]: expected a number in
 *   (0, 1e6], found "fast"
 * Sweep names must be unique across the files of one load (and ids are then
 * unique too). Notices (ignored keys, dropped duplicates) go to a stream the
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
 * The random draws stay keyed by the document as written (its own name and
 * values), so an override changes only what it names: a random sweep with
 * --set val_split=5000 draws the same values of its other parameters. Each
 * sweep records the overrides as option text (Sweep.overrides), which the
 * results file keeps beside the spec, so that spec + overrides reproduce
 * the sweep.
 *
 * Ownership: a SweepSet owns its sweeps and everything in them (their
 * strategies and stopping rules too); sweep_set_free releases it (and
 * accepts NULL or a zeroed set).
 */
#ifndef NNSWEEP_SWEEP_H
#define NNSWEEP_SWEEP_H

#include <stddef.h>
#include <stdio.h>

#include "nnsweep/config.h"
#include "nnsweep/core.h"
#include "nnsweep/outcome.h"
#include "nnsweep/program.h"
#include "nnsweep/tensor.h"

#define SWEEP_MAX_RUNS 100000 /* per sweep: grid product or random count */
#define SWEEP_NAME_MAX 64     /* characters of a sweep name */

typedef enum SweepMethod { SWEEP_GRID = 0, SWEEP_RANDOM } SweepMethod;
typedef enum SweepMetric { SWEEP_TEST_ACCURACY = 0, SWEEP_VAL_ACCURACY } SweepMetric;
typedef enum SweepGoal { SWEEP_MAXIMIZE = 0, SWEEP_MINIMIZE } SweepGoal;

/* "grid", "random"; "test_accuracy", "val_accuracy"; "maximize", "minimize" */
const char *sweep_method_name(SweepMethod m);
const char *sweep_metric_name(SweepMetric m);
const char *sweep_goal_name(SweepGoal g);

typedef struct SweepRun {
    char id[13];      /* config_run_id(&config, sweep name): 12 hex digits */
    RunConfig config; /* validated, shapes included */
    char *json;       /* canonical config JSON (config_to_json), owned */
    double cost;      /* training flops: per image x epochs x training images */
    /* the state layout of the run's model (its ModelPlan's, model.h) */
    size_t n_params, n_state;
    int n_tensors;
    TensorInfo *tensors; /* (n_tensors), owned */
} SweepRun;

typedef struct SweepParam {
    char *key;  /* run config key, owned */
    int line;   /* line of the key in the file */
    int varies; /* the key takes more than one value across the sweep's runs */
} SweepParam;

typedef struct Sweep Sweep;

/* ---- search strategies and stopping rules --------------------------------
 * The scheduler core (sched.h) asks every sweep two questions, through two
 * objects that the sweep owns: its strategy "which run next?" and its
 * stopping rule "should this run stop after epoch k?". An implementation
 * embeds the struct as its first member and fills the function pointers.
 * Runs are indices into sw->runs; a strategy may append runs there (a search
 * that proposes from the results so far), never remove or reorder them.
 *
 * grid and random (and a one-run sweep of `nnsweep train`) use the list
 * strategy: the runs expanded when the file was loaded, most expensive first
 * (cost, then expansion order), each once. */
typedef enum SweepNext {
    SWEEP_NEXT_RUN = 0, /* *run is the run to hand out next */
    SWEEP_NEXT_WAIT,    /* none before more results come in */
    SWEEP_NEXT_DONE,    /* the sweep will hand out nothing more */
} SweepNext;

typedef struct SweepStrategy SweepStrategy;
struct SweepStrategy {
    /* The run to hand out next, without handing it out: asked again before
     * take() or on_result(), it gives the same answer. */
    SweepNext (*peek)(SweepStrategy *self, Sweep *sw, int *run);
    /* The run that peek gave is handed out. */
    void (*take)(SweepStrategy *self, Sweep *sw, int run);
    /* A run ended (any status), or was found finished in the results file
     * before this session (then before the first peek). metric: the sweep
     * metric of its best epoch (sweep_run_metric), NaN when it has none. */
    void (*on_result)(SweepStrategy *self, Sweep *sw, int run, const RunSummary *s,
                      double metric);
    void (*destroy)(SweepStrategy *self);
};

typedef struct SweepStopRule SweepStopRule;
struct SweepStopRule {
    /* The epochs after which it decides, ascending (the same for every run
     * of the sweep): a worker waits for the verdict there, and trains on
     * without waiting after any other epoch. */
    int n_epochs;
    const int *epochs;
    /* Run `run` finished `epoch` (one of epochs) with the sweep metric
     * `value` of that epoch (NaN when not measured): nonzero = stop it now
     * (it ends RUN_STOPPED, keeping its best weights). */
    int (*decide)(SweepStopRule *self, Sweep *sw, int run, int epoch, double value);
    void (*destroy)(SweepStopRule *self);
};

/* The list strategy over sw->runs as they are now (sweep_list.c). */
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
    int count; /* random: runs asked for; grid: 0 */
    SweepMetric metric;
    SweepGoal goal;
    int n_params;
    SweepParam *params; /* (n_params) in document order, owned */
    int n_runs;
    SweepRun *runs;   /* (n_runs) in expansion order, owned */
    int n_duplicates; /* identical runs dropped */
    int open;         /* runs accumulate in the results file across sessions
                         (`nnsweep train --out`'s sweep "train"): runs of the
                         file that the set lacks are kept as they are */
    SweepStrategy *strategy; /* owned; never NULL in a loaded set */
    SweepStopRule *stop;     /* owned; NULL: every run goes to its end */
    /* a program sweep: its program (owned), and metric.name (owned; NULL:
     * none); NULL for the built-in trainer's sweeps */
    ProgramSpec *program;
    char *metric_name;
};

typedef struct SweepSet {
    int n_sweeps;
    Sweep *sweeps; /* (n_sweeps) in file and document order, owned */
    int n_runs;    /* total over the sweeps */
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

/* Releases everything a set owns and zeroes it; accepts NULL. */
void sweep_set_free(SweepSet *set);

/* The run with this id, or NULL; *sweep (may be NULL) gets its sweep. */
const SweepRun *sweep_set_find_run(const SweepSet *set, const char *id, const Sweep **sweep);

/* The sweep metric of one metrics row, and of a finished run (at its best
 * epoch): the value of the metric the sweep names, NaN when not measured
 * (the one place that says which field a metric is). A program's run:
 * its best_value; a program's row: the value of the metric's name in it
 * (NaN when the row lacks it, or is a summary row). */
double sweep_epoch_metric(const Sweep *sw, const EpochMetrics *m);
double sweep_run_metric(const Sweep *sw, const RunSummary *s);
double sweep_row_metric(const Sweep *sw, const RunRow *row);
/* The name of the sweep's metric: sweep_metric_name's, a program sweep's
 * metric.name, or "" when a program sweep has none. */
const char *sweep_metric_label(const Sweep *sw);
/* 1 when a is better than b for the sweep's goal; a NaN is never better. */
int sweep_metric_better(const Sweep *sw, double a, double b);

/* Training images of a run (50000 - val_split, cut to train_images). */
int sweep_train_images(const RunConfig *c);

#endif
