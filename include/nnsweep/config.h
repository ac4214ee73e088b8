/* config.h - the run config: every key of one training run (DESIGN.md, Run
 * config), its defaults, parsing from flags, YAML files and JSON, checks,
 * the canonical JSON text and the run id.
 *
 * Every key has a default; unknown keys are an error. Keys are described by
 * one table (config.c) that drives parsing, --help, canonical JSON and the
 * per-key HDF5 attributes, so a key is added in one place.
 *
 * Keys beyond DESIGN.md's list (each with a default that changes nothing):
 *   lr_step_epochs, lr_gamma  - the step schedule (torch StepLR step_size,
 *                               gamma)
 *   train_images, test_images - use only the first N images (0 = all):
 *                               quick sweeps, tests, scheduler benchmarks
 */
#ifndef NNSWEEP_CONFIG_H
#define NNSWEEP_CONFIG_H

#include <stdint.h>

#include "nnsweep/backend.h"
#include "nnsweep/core.h"
#include "nnsweep/optim.h" /* OptimKind, LrSchedule */
#include "nnsweep/yamltree.h"

#define NN_MAX_LAYERS 16

typedef enum ModelKind { MODEL_MLP = 0, MODEL_CNN } ModelKind;
typedef enum Normalize { NORM_HALF = 0, NORM_MEANSTD } Normalize;
typedef enum SelectOn { SELECT_TEST_ACCURACY = 0, SELECT_VAL_ACCURACY } SelectOn;
typedef enum Precision { PREC_FP32 = 0, PREC_TF32, PREC_BF16 } Precision;

typedef struct RunConfig {
    ModelKind model;
    int n_hidden;
    int hidden_layers[NN_MAX_LAYERS]; /* widths of the FC hidden layers */
    int n_conv;
    int conv_layers[NN_MAX_LAYERS]; /* output channels of each conv layer */
    int kernel_size, padding, pool_size;
    ActKind activation;
    int batchnorm;
    double dropout;
    OptimKind optimizer;
    double learning_rate, momentum;
    int nesterov;
    double betas[2], eps, weight_decay;
    LrSchedule lr_schedule;
    double warmup_epochs;
    int lr_step_epochs;
    double lr_gamma;
    int batch_size, epochs, patience;
    Normalize normalize;
    Augment augment;
    double label_smoothing;
    int val_split;
    int train_images, test_images;
    SelectOn select_on;
    int64_t seed;
    double save_weights_min_accuracy;
    DeviceKind device;
    Precision precision;
} RunConfig;

/* Type of a key's value. */
typedef enum ConfigType {
    CT_INT = 0,  /* long */
    CT_FLOAT,    /* double */
    CT_BOOL,     /* true/false */
    CT_ENUM,     /* one of a fixed set of names */
    CT_INT_LIST, /* list of ints (hidden_layers, conv_layers) */
    CT_FLOAT_PAIR /* two doubles (betas) */
} ConfigType;

typedef struct ConfigKeyInfo {
    const char *name;
    ConfigType type;
    const char *const *names; /* CT_ENUM: NULL-terminated value names */
    const char *help;         /* one line for --help, with the valid range */
} ConfigKeyInfo;

/* One key's value in a form that writers (JSON, HDF5 attributes) take. */
typedef struct ConfigValue {
    ConfigType type;
    long i;          /* CT_INT, CT_BOOL, CT_ENUM (index) */
    double d;        /* CT_FLOAT */
    const char *s;   /* CT_ENUM: the name */
    int n;           /* CT_INT_LIST length, 2 for CT_FLOAT_PAIR */
    const int *list; /* CT_INT_LIST */
    double pair[2];  /* CT_FLOAT_PAIR */
} ConfigValue;

int config_n_keys(void);
const ConfigKeyInfo *config_key(int i);
int config_key_index(const char *name); /* -1 if unknown */

/* Fills every key with its default (the seed study's MLP recipe). */
void config_defaults(RunConfig *c);

/* Sets one key from flag text ("0.05", "256,256,256", "relu", "true").
 * Unknown key, wrong type or out of range: NN_ERR_INPUT naming the key and
 * what was expected. `where` prefixes the message (e.g. "--learning-rate"). */
NnStatus config_set_text(RunConfig *c, const char *key, const char *text, const char *where,
                         NnError *err);

/* Sets one key from a YAML/JSON node; messages start "file:line: key: ". */
NnStatus config_set_node(RunConfig *c, const char *key, const YNode *v, const char *file,
                         NnError *err);

/* Sets every key of a mapping node (run config file, canonical JSON). */
NnStatus config_set_map(RunConfig *c, const YNode *map, const char *file, NnError *err);

/* Loads a YAML run config file (one mapping of keys) over *c. */
NnStatus config_load_file(RunConfig *c, const char *path, NnError *err);

/* Parses canonical JSON (as config_to_json writes it) over *c. */
NnStatus config_from_json(RunConfig *c, const char *json, NnError *err);

/* Checks that need several keys (select_on val_accuracy needs val_split,
 * warmup within epochs, a cnn needs a conv layer, ...). The shapes of the
 * model are nn's to check: run_plan_create (train.h) does both. */
NnStatus config_validate(const RunConfig *c, NnError *err);

/* The value of key i of c. */
void config_value(const RunConfig *c, int i, ConfigValue *out);
/* The value as JSON text ("0.05", "[256,256]", "\"relu\"", "true"). */
void config_value_json(const RunConfig *c, int i, NnBuf *out);

/* Canonical JSON: one object, every key, sorted by name, no spaces, doubles
 * in their shortest round-trip form. Equal configs give equal text. */
void config_to_json(const RunConfig *c, NnBuf *out);

/* Run id: 12 hex digits of a hash of sweep name + canonical JSON. */
void config_run_id(const RunConfig *c, const char *sweep, char id[13]);
/* The same of a config's JSON text (len bytes): program runs' ids. */
void config_run_id_text(const char *json, size_t len, const char *sweep, char id[13]);

#endif
