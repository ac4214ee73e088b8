/* sweep_internal.h - what the sweep module's files share: one document's
 * parsed and checked spec (sweep_parse.c), expanded into runs by
 * sweep_expand.c; sweep_load.c reads files and builds the set. */
#ifndef NNSWEEP_SWEEP_INTERNAL_H
#define NNSWEEP_SWEEP_INTERNAL_H

#include <stdint.h>
#include <stdio.h>

#include "nnsweep/program.h"
#include "nnsweep/sweep.h"
#include "nnsweep/yamltree.h"

typedef enum ParamKind {
    PARAM_VALUES = 0,  /* value (one node) or values (a list of nodes) */
    PARAM_UNIFORM,     /* real in [min, max) */
    PARAM_LOG_UNIFORM, /* exp(uniform(log min, log max)) */
    PARAM_INT_UNIFORM  /* integer in [min, max] */
} ParamKind;

/* One parameter of a sweep; nodes are borrowed from the document tree. */
typedef struct ParamSpec {
    const char *key; /* run config key */
    int line;        /* of the key */
    int config_index;
    ConfigType type;
    ParamKind kind;
    const YNode *one;  /* PARAM_VALUES from `value` */
    const YNode *list; /* PARAM_VALUES from `values` (a non-empty list) */
    const char *text;  /* PARAM_VALUES from --set: one value as flag text
                          (config_set_text), borrowed from the overrides */
    double min, max;   /* distributions; integers exactly for int_uniform */
} ParamSpec;

/* Number of values of a PARAM_VALUES parameter; sets the i-th in c
 * (messages name `file`, or the --set option). */
int param_n_values(const ParamSpec *p);
NnStatus param_apply(RunConfig *c, const ParamSpec *p, int i, const char *file, NnError *err);

typedef struct ProgramParams ProgramParams; /* sweep_program.c */

/* One sweep document after parsing and checks, before expansion. */
typedef struct SweepDoc {
    const char *file;
    const YNode *root;
    char *name;        /* given or derived; owned */
    int name_line;     /* of the name key, or of the document */
    char *description; /* owned, may be NULL */
    SweepMethod method;
    int count;
    SweepMetric metric;
    int metric_line;
    SweepGoal goal;
    int params_line; /* of the `parameters` key */
    int n_params;
    ParamSpec *params; /* (n_params), owned */
    /* a program sweep (`program` or `command` given): its spec, its metric's
     * name (NULL: none) and its free parameters instead of params; owned */
    int is_program;
    ProgramSpec *program;
    char *metric_name;
    ProgramParams *pparams;
} SweepDoc;

/* Parses and checks one document (a mapping at root). `default_name` is used
 * when the document has no name. Notices for ignored W&B keys go to
 * `notices` (may be NULL). *doc is owned by the caller (sweep_doc_free). */
NnStatus sweep_doc_parse(const YNode *root, const char *file, const char *default_name,
                         FILE *notices, SweepDoc *doc, NnError *err);
void sweep_doc_free(SweepDoc *doc); /* accepts NULL */

/* 1 when s is a valid sweep name (sweep.h). */
int sweep_name_valid(const char *s);

/* Applies the overrides to a parsed document (sweep_override.c): --set
 * values replace or join its parameters, --metric its metric, the suffix
 * goes on its name. NN_ERR_INPUT naming file:line when the suffixed name is
 * not valid. */
NnStatus sweep_doc_override(SweepDoc *doc, const SweepOverrides *o, NnError *err);

/* Expands a parsed document into out->runs (and out->params, n_duplicates);
 * `hash` keys random draws. Fills only the fields named; the caller sets the
 * rest of *out. On error frees what it allocated. */
NnStatus sweep_doc_expand(const SweepDoc *doc, uint64_t hash, FILE *notices, Sweep *out,
                          NnError *err);

/* Program sweeps (sweep_program.c): the spec from the document's program
 * and command keys, checked (program_check: the program and its
 * executable are found); the free parameters (nested groups included)
 * checked against their distributions; the expansion, as
 * sweep_doc_expand; and what the document owns for them. */
NnStatus program_doc_spec(SweepDoc *doc, const YNode *root, NnError *err);
NnStatus program_doc_params(SweepDoc *doc, const YNode *params, NnError *err);
NnStatus program_doc_expand(const SweepDoc *doc, uint64_t hash, FILE *notices, Sweep *out,
                            NnError *err);
void program_doc_free(SweepDoc *doc);

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

/* Replaces the "file:line: key" prefix that config_set_node writes with
 * "file:line: path" so that messages name the place in the sweep file. */
void sweep_error_path(NnError *err, const char *file, int line, const char *key,
                      const char *path);

#endif
