/* config.c - the run config key table: defaults, parsing, checks, canonical
 * JSON, run ids. */
#include "nnsweep/config.h"

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnsweep/data.h"

static const char *const model_names[] = {"mlp", "cnn", NULL};
static const char *const act_names[] = {"relu", "tanh", "sigmoid", "gelu", "leaky_relu", NULL};
static const char *const optim_names[] = {"sgd", "adam", "adamw", NULL};
static const char *const sched_names[] = {"constant", "step", "cosine", "onecycle", NULL};
static const char *const norm_names[] = {"half", "meanstd", NULL};
static const char *const aug_names[] = {"none", "flip", "crop_flip", NULL};
static const char *const select_names[] = {"test_accuracy", "val_accuracy", NULL};
static const char *const device_names[] = {"auto", "cpu", "cuda", NULL};
static const char *const prec_names[] = {"fp32", "tf32", "bf16", NULL};

/* Range of a number: lo/hi with open ends where flagged; for lists, of
 * each element. */
typedef struct KeyDef {
    ConfigKeyInfo info;
    size_t offset;  /* of the field in RunConfig (lists: the array) */
    size_t count_offset; /* CT_INT_LIST: offset of the n_* field */
    double lo, hi;
    int lo_open, hi_open;
    int max_items;  /* CT_INT_LIST */
} KeyDef;

#define OFF(f) offsetof(RunConfig, f)
#define KEY(name_, type_, names_, help_) .info = {name_, type_, names_, help_}

/* Sorted by name: canonical JSON writes keys in table order. */
static const KeyDef keys[] = {
    {KEY("activation", CT_ENUM, act_names, "relu | tanh | sigmoid | gelu | leaky_relu"),
     OFF(activation)},
    {KEY("augment", CT_ENUM, aug_names, "none | flip | crop_flip (4-pixel pad, random 32x32 crop)"),
     OFF(augment)},
    {KEY("batch_size", CT_INT, NULL, "training images per step, 1..50000"), OFF(batch_size), 0, 1,
     50000},
    {KEY("batchnorm", CT_BOOL, NULL, "batch norm after every conv and hidden linear layer"),
     OFF(batchnorm)},
    {KEY("betas", CT_FLOAT_PAIR, NULL, "Adam beta1,beta2, each in [0, 1)"), OFF(betas), 0, 0, 1, 0,
     1},
    {KEY("conv_layers", CT_INT_LIST, NULL, "output channels per conv layer (cnn), each 1..4096"),
     OFF(conv_layers), OFF(n_conv), 1, 4096, 0, 0, NN_MAX_LAYERS},
    {KEY("device", CT_ENUM, device_names, "auto | cpu | cuda"), OFF(device)},
    {KEY("dropout", CT_FLOAT, NULL, "dropout (dropout2d after conv blocks) rate in [0, 1)"),
     OFF(dropout), 0, 0, 1, 0, 1},
    {KEY("epochs", CT_INT, NULL, "training epochs, 1..100000"), OFF(epochs), 0, 1, 100000},
    {KEY("eps", CT_FLOAT, NULL, "Adam epsilon in (0, 1]"), OFF(eps), 0, 0, 1, 1, 0},
    {KEY("hidden_layers", CT_INT_LIST, NULL,
         "widths of the fully connected hidden layers, each 1..65536 (may be empty)"),
     OFF(hidden_layers), OFF(n_hidden), 1, 65536, 0, 0, NN_MAX_LAYERS},
    {KEY("kernel_size", CT_INT, NULL, "conv kernel size, 1..31"), OFF(kernel_size), 0, 1, 31},
    {KEY("label_smoothing", CT_FLOAT, NULL, "cross-entropy label smoothing in [0, 1)"),
     OFF(label_smoothing), 0, 0, 1, 0, 1},
    {KEY("learning_rate", CT_FLOAT, NULL, "learning rate in (0, 1e6]"), OFF(learning_rate), 0, 0,
     1e6, 1, 0},
    {KEY("lr_gamma", CT_FLOAT, NULL, "step schedule factor in (0, 1]"), OFF(lr_gamma), 0, 0, 1, 1,
     0},
    {KEY("lr_schedule", CT_ENUM, sched_names, "constant | step | cosine | onecycle"),
     OFF(lr_schedule)},
    {KEY("lr_step_epochs", CT_INT, NULL, "step schedule: epochs between decays, 1..100000"),
     OFF(lr_step_epochs), 0, 1, 100000},
    {KEY("model", CT_ENUM, model_names, "mlp | cnn"), OFF(model)},
    {KEY("momentum", CT_FLOAT, NULL, "SGD momentum in [0, 1)"), OFF(momentum), 0, 0, 1, 0, 1},
    {KEY("nesterov", CT_BOOL, NULL, "Nesterov momentum (SGD, needs momentum > 0)"),
     OFF(nesterov)},
    {KEY("normalize", CT_ENUM, norm_names,
         "half: (x/255 - 0.5)/0.5 | meanstd: per-channel mean/std of the training images"),
     OFF(normalize)},
    {KEY("optimizer", CT_ENUM, optim_names, "sgd | adam | adamw"), OFF(optimizer)},
    {KEY("padding", CT_INT, NULL, "conv zero padding, 0..15"), OFF(padding), 0, 0, 15},
    {KEY("patience", CT_INT, NULL, "early stopping: epochs without improvement, 0 = off"),
     OFF(patience), 0, 0, 100000},
    {KEY("pool_size", CT_INT, NULL, "max-pool kernel and stride, 1..32"), OFF(pool_size), 0, 1,
     32},
    {KEY("precision", CT_ENUM, prec_names, "fp32 | tf32 | bf16 (tf32, bf16: cuda only)"),
     OFF(precision)},
    {KEY("save_weights_min_accuracy", CT_FLOAT, NULL,
         "store the best weights when the best accuracy reaches this, in [0, 1]"),
     OFF(save_weights_min_accuracy), 0, 0, 1},
    {KEY("seed", CT_INT, NULL, "random seed, 0..2^53"), OFF(seed), 0, 0, 9007199254740992.0},
    {KEY("select_on", CT_ENUM, select_names,
         "test_accuracy | val_accuracy: metric that picks the best epoch"),
     OFF(select_on)},
    {KEY("test_images", CT_INT, NULL, "use only the first N test images, 0 = all 10000"),
     OFF(test_images), 0, 0, 10000},
    {KEY("train_images", CT_INT, NULL, "use only the first N training images, 0 = all"),
     OFF(train_images), 0, 0, 50000},
    {KEY("val_split", CT_INT, NULL, "training images held out for validation, 0..49999"),
     OFF(val_split), 0, 0, 49999},
    {KEY("warmup_epochs", CT_FLOAT, NULL, "linear learning-rate warmup in epochs, >= 0"),
     OFF(warmup_epochs), 0, 0, 100000},
    {KEY("weight_decay", CT_FLOAT, NULL, "L2 weight decay (coupled; decoupled for adamw), >= 0"),
     OFF(weight_decay), 0, 0, 1e6},
};
#define N_KEYS ((int)(sizeof keys / sizeof keys[0]))

int config_n_keys(void) { return N_KEYS; }
const ConfigKeyInfo *config_key(int i) { return (i >= 0 && i < N_KEYS) ? &keys[i].info : NULL; }

int config_key_index(const char *name)
{
    for (int i = 0; i < N_KEYS; i++)
        if (strcmp(keys[i].info.name, name) == 0) return i;
    return -1;
}

void config_defaults(RunConfig *c)
{
    memset(c, 0, sizeof *c);
    c->model = MODEL_MLP;
    c->n_hidden = 3;
    c->hidden_layers[0] = c->hidden_layers[1] = c->hidden_layers[2] = 256;
    c->n_conv = 2;
    c->conv_layers[0] = c->conv_layers[1] = 32;
    c->kernel_size = 5;
    c->padding = 0;
    c->pool_size = 2;
    c->activation = ACT_RELU;
    c->optimizer = OPT_SGD;
    c->learning_rate = 0.05;
    c->betas[0] = 0.9;
    c->betas[1] = 0.999;
    c->eps = 1e-8;
    c->lr_schedule = LR_CONSTANT;
    c->lr_step_epochs = 30;
    c->lr_gamma = 0.1;
    c->batch_size = 32;
    c->epochs = 100;
    c->patience = 25;
    c->normalize = NORM_HALF;
    c->augment = AUG_NONE;
    c->select_on = SELECT_TEST_ACCURACY;
    c->device = DEVICE_AUTO;
    c->precision = PREC_FP32;
}

/* "a number in [0, 1)" and friends, for messages. */
static void describe_range(const KeyDef *k, char *buf, size_t size)
{
    const ConfigKeyInfo *i = &k->info;
    char lo[32], hi[32];
    nn_format_double(lo, sizeof lo, k->lo);
    nn_format_double(hi, sizeof hi, k->hi);
    switch (i->type) {
    case CT_INT: snprintf(buf, size, "an integer in %.0f..%.0f", k->lo, k->hi); break;
    case CT_FLOAT:
    case CT_FLOAT_PAIR:
        snprintf(buf, size, "%s in %c%s, %s%c",
                 i->type == CT_FLOAT ? "a number" : "a list of two numbers, each",
                 k->lo_open ? '(' : '[', lo, hi, k->hi_open ? ')' : ']');
        break;
    case CT_BOOL: snprintf(buf, size, "true or false"); break;
    case CT_INT_LIST:
        snprintf(buf, size, "a list of at most %d integers, each in %.0f..%.0f", k->max_items,
                 k->lo, k->hi);
        break;
    case CT_ENUM: {
        size_t used = (size_t)snprintf(buf, size, "one of");
        for (int j = 0; i->names[j] && used < size; j++)
            used += (size_t)snprintf(buf + used, size - used, "%s %s", j ? "," : "", i->names[j]);
        break;
    }
    }
}

static int in_range(const KeyDef *k, double v)
{
    if (k->lo_open ? !(v > k->lo) : !(v >= k->lo)) return 0;
    if (k->hi_open ? !(v < k->hi) : !(v <= k->hi)) return 0;
    return 1;
}

static NnStatus bad_value(const KeyDef *k, const YNode *v, const char *where, NnError *err)
{
    char expect[256], found[96];
    describe_range(k, expect, sizeof expect);
    return nn_error_set(err, NN_ERR_INPUT, "%s: expected %s, found %s", where, expect,
                        ynode_describe(v, found, sizeof found));
}

/* Sets key k of c from node v; `where` names the place for messages. */
static NnStatus set_value(RunConfig *c, const KeyDef *k, const YNode *v, const char *where,
                          NnError *err)
{
    char *field = (char *)c + k->offset;
    long l;
    double d;
    int b;
    switch (k->info.type) {
    case CT_INT:
        if (!ynode_as_long(v, &l) || !in_range(k, (double)l)) return bad_value(k, v, where, err);
        if (k->offset == OFF(seed))
            *(int64_t *)field = l;
        else
            *(int *)field = (int)l;
        return NN_OK;
    case CT_FLOAT:
        if (!ynode_as_double(v, &d) || !in_range(k, d)) return bad_value(k, v, where, err);
        *(double *)field = d;
        return NN_OK;
    case CT_BOOL:
        if (!ynode_as_bool(v, &b)) return bad_value(k, v, where, err);
        *(int *)field = b;
        return NN_OK;
    case CT_ENUM:
        if (v && v->kind == YNODE_SCALAR) {
            for (int j = 0; k->info.names[j]; j++) {
                if (strcmp(k->info.names[j], v->value) == 0) {
                    *(int *)field = j;
                    return NN_OK;
                }
            }
        }
        return bad_value(k, v, where, err);
    case CT_INT_LIST: {
        if (!v || v->kind != YNODE_SEQ || v->n > k->max_items) return bad_value(k, v, where, err);
        int tmp[NN_MAX_LAYERS];
        for (int j = 0; j < v->n; j++) {
            if (!ynode_as_long(v->items[j], &l) || !in_range(k, (double)l))
                return bad_value(k, v->items[j], where, err);
            tmp[j] = (int)l;
        }
        memcpy(field, tmp, (size_t)v->n * sizeof(int));
        *(int *)((char *)c + k->count_offset) = v->n;
        return NN_OK;
    }
    case CT_FLOAT_PAIR: {
        if (!v || v->kind != YNODE_SEQ || v->n != 2) return bad_value(k, v, where, err);
        double p[2];
        for (int j = 0; j < 2; j++)
            if (!ynode_as_double(v->items[j], &p[j]) || !in_range(k, p[j]))
                return bad_value(k, v->items[j], where, err);
        memcpy(field, p, sizeof p);
        return NN_OK;
    }
    }
    return bad_value(k, v, where, err);
}

static NnStatus unknown_key(const char *key, const char *where, NnError *err)
{
    NnSuggest near;
    nn_suggest_init(&near, key);
    for (int i = 0; i < N_KEYS; i++) nn_suggest_offer(&near, keys[i].info.name);
    if (near.best)
        return nn_error_set(err, NN_ERR_INPUT,
                            "%s: unknown key '%s' (did you mean '%s'? `nnsweep train --help` "
                            "lists every key)",
                            where, key, near.best);
    return nn_error_set(err, NN_ERR_INPUT,
                        "%s: unknown key '%s' (`nnsweep train --help` lists every key)", where,
                        key);
}

NnStatus config_set_text(RunConfig *c, const char *key, const char *text, const char *where,
                         NnError *err)
{
    int i = config_key_index(key);
    if (i < 0) return unknown_key(key, where, err);
    const KeyDef *k = &keys[i];
    YNode scalar = {.kind = YNODE_SCALAR, .line = 0, .value = (char *)text};
    if (k->info.type != CT_INT_LIST && k->info.type != CT_FLOAT_PAIR)
        return set_value(c, k, &scalar, where, err);

    /* "256,256,256", "[256, 256]", "" or "[]" */
    char *copy = nn_strdup(text);
    char *s = copy;
    size_t len = strlen(s);
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
        s[len - 1] = '\0';
        s++;
    }
    YNode items[NN_MAX_LAYERS + 1];
    YNode *ptrs[NN_MAX_LAYERS + 1];
    YNode seq = {.kind = YNODE_SEQ, .items = ptrs};
    NnStatus st = NN_OK;
    char *save = NULL;
    for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') tok++;
        char *end = tok + strlen(tok);
        while (end > tok && end[-1] == ' ') *--end = '\0';
        if (seq.n == NN_MAX_LAYERS + 1) {
            st = bad_value(k, &scalar, where, err);
            break;
        }
        items[seq.n] = (YNode){.kind = YNODE_SCALAR, .value = tok};
        ptrs[seq.n] = &items[seq.n];
        seq.n++;
    }
    if (st == NN_OK) st = set_value(c, k, &seq, where, err);
    free(copy);
    return st;
}

NnStatus config_set_node(RunConfig *c, const char *key, const YNode *v, const char *file,
                         NnError *err)
{
    char where[512];
    snprintf(where, sizeof where, "%s:%d: %s", file, v ? v->line : 0, key);
    int i = config_key_index(key);
    if (i < 0) {
        snprintf(where, sizeof where, "%s:%d", file, v ? v->line : 0);
        return unknown_key(key, where, err);
    }
    return set_value(c, &keys[i], v, where, err);
}

NnStatus config_set_map(RunConfig *c, const YNode *map, const char *file, NnError *err)
{
    if (!map || map->kind != YNODE_MAP)
        return nn_error_set(err, NN_ERR_INPUT, "%s:%d: expected a mapping of run config keys",
                            file, map ? map->line : 1);
    for (int j = 0; j < map->n; j++) {
        if (config_key_index(map->keys[j]) < 0) {
            char where[512];
            snprintf(where, sizeof where, "%s:%d", file, map->key_lines[j]);
            return unknown_key(map->keys[j], where, err);
        }
        NnStatus st = config_set_node(c, map->keys[j], map->items[j], file, err);
        if (st != NN_OK) return st;
    }
    return NN_OK;
}

NnStatus config_load_file(RunConfig *c, const char *path, NnError *err)
{
    YNode **docs;
    int n_docs;
    NnStatus st = ynode_parse_file(path, &docs, &n_docs, err);
    if (st != NN_OK) return st;
    if (n_docs != 1 || !docs[0])
        st = nn_error_set(err, NN_ERR_INPUT, "%s: expected one YAML document with a mapping of "
                          "run config keys, found %d documents", path, n_docs);
    else
        st = config_set_map(c, docs[0], path, err);
    for (int i = 0; i < n_docs; i++) ynode_free(docs[i]);
    free(docs);
    return st;
}

NnStatus config_from_json(RunConfig *c, const char *json, NnError *err)
{
    YNode **docs;
    int n_docs;
    NnStatus st = ynode_parse(json, strlen(json), "<config json>", &docs, &n_docs, err);
    if (st != NN_OK) return st;
    if (n_docs != 1)
        st = nn_error_set(err, NN_ERR_INPUT, "<config json>: expected one object");
    else
        st = config_set_map(c, docs[0], "<config json>", err);
    for (int i = 0; i < n_docs; i++) ynode_free(docs[i]);
    free(docs);
    return st;
}

NnStatus config_validate(const RunConfig *c, NnError *err)
{
    if (c->select_on == SELECT_VAL_ACCURACY && c->val_split == 0)
        return nn_error_set(err, NN_ERR_INPUT,
                            "select_on: val_accuracy needs a validation set: set val_split > 0");
    if (c->warmup_epochs > c->epochs)
        return nn_error_set(err, NN_ERR_INPUT, "warmup_epochs: %g is more than epochs (%d)",
                            c->warmup_epochs, c->epochs);
    if (c->nesterov && c->momentum <= 0)
        return nn_error_set(err, NN_ERR_INPUT, "nesterov: needs momentum > 0 (as torch.optim.SGD)");
    if (c->model == MODEL_CNN && c->n_conv == 0)
        return nn_error_set(err, NN_ERR_INPUT, "conv_layers: a cnn needs at least one conv layer");
    if (c->device == DEVICE_CPU && c->precision != PREC_FP32)
        return nn_error_set(err, NN_ERR_INPUT, "precision: %s needs device cuda (cpu is fp32)",
                            prec_names[c->precision]);
    if (c->train_images && c->train_images + c->val_split > CIFAR10_N_TRAIN)
        return nn_error_set(err, NN_ERR_INPUT,
                            "train_images: %d plus val_split %d is more than the %d training "
                            "images", c->train_images, c->val_split, CIFAR10_N_TRAIN);
    return NN_OK;
}

void config_value(const RunConfig *c, int i, ConfigValue *out)
{
    NN_CHECK(i >= 0 && i < N_KEYS, "config key index %d out of range", i);
    const KeyDef *k = &keys[i];
    const char *field = (const char *)c + k->offset;
    memset(out, 0, sizeof *out);
    out->type = k->info.type;
    switch (k->info.type) {
    case CT_INT:
        out->i = k->offset == OFF(seed) ? (long)*(const int64_t *)field : *(const int *)field;
        break;
    case CT_FLOAT: out->d = *(const double *)field; break;
    case CT_BOOL: out->i = *(const int *)field; break;
    case CT_ENUM:
        out->i = *(const int *)field;
        out->s = k->info.names[out->i];
        break;
    case CT_INT_LIST:
        out->list = (const int *)field;
        out->n = *(const int *)((const char *)c + k->count_offset);
        break;
    case CT_FLOAT_PAIR:
        memcpy(out->pair, field, sizeof out->pair);
        out->n = 2;
        break;
    }
}

void config_value_json(const RunConfig *c, int i, NnBuf *out)
{
    ConfigValue v;
    char num[40];
    config_value(c, i, &v);
    switch (v.type) {
    case CT_INT: nn_buf_printf(out, "%ld", v.i); break;
    case CT_FLOAT:
        nn_format_double(num, sizeof num, v.d);
        nn_buf_printf(out, "%s", num);
        break;
    case CT_BOOL: nn_buf_printf(out, "%s", v.i ? "true" : "false"); break;
    case CT_ENUM: nn_buf_printf(out, "\"%s\"", v.s); break;
    case CT_INT_LIST:
        nn_buf_append(out, "[", 1);
        for (int j = 0; j < v.n; j++) nn_buf_printf(out, "%s%d", j ? "," : "", v.list[j]);
        nn_buf_append(out, "]", 1);
        break;
    case CT_FLOAT_PAIR:
        nn_buf_append(out, "[", 1);
        for (int j = 0; j < 2; j++) {
            nn_format_double(num, sizeof num, v.pair[j]);
            nn_buf_printf(out, "%s%s", j ? "," : "", num);
        }
        nn_buf_append(out, "]", 1);
        break;
    }
}

void config_to_json(const RunConfig *c, NnBuf *out)
{
    nn_buf_append(out, "{", 1);
    for (int i = 0; i < N_KEYS; i++) {
        nn_buf_printf(out, "%s\"%s\":", i ? "," : "", keys[i].info.name);
        config_value_json(c, i, out);
    }
    nn_buf_append(out, "}", 1);
}

void config_run_id_text(const char *json, size_t len, const char *sweep, char id[13])
{
    uint64_t h = nn_hash64(sweep, strlen(sweep) + 1, 0);
    h = nn_hash64(json, len, h);
    snprintf(id, 13, "%012llx", (unsigned long long)(h >> 16));
}

void config_run_id(const RunConfig *c, const char *sweep, char id[13])
{
    NnBuf json = {0};
    config_to_json(c, &json);
    config_run_id_text(json.data, json.len, sweep, id);
    nn_buf_free(&json);
}
