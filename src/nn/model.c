/* model.c - building a model from a run config: layer plan, shapes, state
 * layout, arenas, PyTorch default initialization, state copies. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_impl.h"
#include "nnsweep/rng.h"

/* Growable plan under construction. */
typedef struct Plan {
    Layer *layers;
    int n_layers, cap_layers;
    ModelTensor *tensors;
    int n_tensors, cap_tensors;
    size_t n_params;
    int n_dropout;
} Plan;

static Layer *plan_add(Plan *p, LayerKind kind, const char *name, int C, int H, int W)
{
    if (p->n_layers == p->cap_layers) {
        p->cap_layers = p->cap_layers ? 2 * p->cap_layers : 16;
        p->layers = nn_realloc(p->layers, (size_t)p->cap_layers * sizeof *p->layers);
    }
    Layer *l = &p->layers[p->n_layers++];
    memset(l, 0, sizeof *l);
    l->kind = kind;
    snprintf(l->name, sizeof l->name, "%s", name);
    l->C = l->OC = C;
    l->H = l->OH = H;
    l->W = l->OW = W;
    l->first_tensor = -1;
    return l;
}

static void plan_tensor(Plan *p, Layer *l, const char *suffix, int ndim, const int *shape,
                        int is_buffer)
{
    if (p->n_tensors == p->cap_tensors) {
        p->cap_tensors = p->cap_tensors ? 2 * p->cap_tensors : 32;
        p->tensors = nn_realloc(p->tensors, (size_t)p->cap_tensors * sizeof *p->tensors);
    }
    ModelTensor *t = &p->tensors[p->n_tensors];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s.%s", l->name, suffix);
    t->ndim = ndim;
    t->n = 1;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = shape[i];
        t->n *= (size_t)shape[i];
    }
    t->is_buffer = is_buffer;
    if (l->first_tensor < 0) l->first_tensor = p->n_tensors;
    p->n_tensors++;
}

static void finish_layer(Layer *l)
{
    l->in_size = (size_t)l->C * l->H * l->W;
    l->out_size = (size_t)l->OC * l->OH * l->OW;
}

static void add_linear(Plan *p, const char *name, int in, int out)
{
    Layer *l = plan_add(p, LAYER_LINEAR, name, in, 1, 1);
    l->OC = out;
    plan_tensor(p, l, "weight", 2, (int[]){out, in}, 0);
    plan_tensor(p, l, "bias", 1, (int[]){out}, 0);
    finish_layer(l);
}

static void add_batchnorm(Plan *p, const char *block, int C, int H, int W)
{
    char name[32];
    snprintf(name, sizeof name, "%s_bn", block);
    Layer *l = plan_add(p, LAYER_BATCHNORM, name, C, H, W);
    plan_tensor(p, l, "weight", 1, (int[]){C}, 0);
    plan_tensor(p, l, "bias", 1, (int[]){C}, 0);
    plan_tensor(p, l, "running_mean", 1, (int[]){C}, 1);
    plan_tensor(p, l, "running_var", 1, (int[]){C}, 1);
    finish_layer(l);
}

static void add_simple(Plan *p, LayerKind kind, const char *block, int C, int H, int W,
                       const RunConfig *c)
{
    char name[32];
    snprintf(name, sizeof name, "%s_%s", block, kind == LAYER_ACT ? "act" : "drop");
    Layer *l = plan_add(p, kind, name, C, H, W);
    l->act = c->activation;
    if (kind == LAYER_DROPOUT) {
        l->p = (float)c->dropout;
        l->group = H * W; /* dropout2d for conv blocks, 1 for features */
        l->dropout_index = p->n_dropout++;
    }
    finish_layer(l);
}

NnStatus model_plan(const RunConfig *c, Layer **layers, int *n_layers, ModelTensor **tensors,
                    int *n_tensors, size_t *n_params, size_t *n_state, NnError *err)
{
    Plan p = {0};
    int C = 3, H = 32, W = 32;
    char name[16];

    if (c->model == MODEL_CNN) {
        for (int i = 0; i < c->n_conv; i++) {
            int OH = H + 2 * c->padding - c->kernel_size + 1;
            int OW = W + 2 * c->padding - c->kernel_size + 1;
            if (OH < 1 || OW < 1) {
                free(p.layers);
                free(p.tensors);
                return nn_error_set(err, NN_ERR_INPUT,
                                    "conv_layers: conv layer %d gets a %dx%d input, too small for "
                                    "kernel_size %d with padding %d (its output would be %dx%d); "
                                    "use fewer conv layers, more padding or a smaller kernel",
                                    i + 1, H, W, c->kernel_size, c->padding, OH, OW);
            }
            if (OH / c->pool_size < 1 || OW / c->pool_size < 1) {
                free(p.layers);
                free(p.tensors);
                return nn_error_set(err, NN_ERR_INPUT,
                                    "conv_layers: after conv layer %d the feature map is %dx%d, "
                                    "smaller than pool_size %d: it would shrink below 1x1; use "
                                    "fewer conv layers, more padding or a smaller pool_size",
                                    i + 1, OH, OW, c->pool_size);
            }
            snprintf(name, sizeof name, "conv%d", i);
            Layer *l = plan_add(&p, LAYER_CONV2D, name, C, H, W);
            l->OC = c->conv_layers[i];
            l->K = c->kernel_size;
            l->pad = c->padding;
            l->OH = OH;
            l->OW = OW;
            plan_tensor(&p, l, "weight", 4, (int[]){l->OC, C, l->K, l->K}, 0);
            plan_tensor(&p, l, "bias", 1, (int[]){l->OC}, 0);
            finish_layer(l);
            C = l->OC;
            H = OH;
            W = OW;
            if (c->batchnorm) add_batchnorm(&p, name, C, H, W);
            add_simple(&p, LAYER_ACT, name, C, H, W, c);
            if (c->pool_size > 1) {
                char pname[32];
                snprintf(pname, sizeof pname, "%s_pool", name);
                Layer *pl = plan_add(&p, LAYER_MAXPOOL2D, pname, C, H, W);
                pl->P = c->pool_size;
                pl->OH = H / c->pool_size;
                pl->OW = W / c->pool_size;
                finish_layer(pl);
                H = pl->OH;
                W = pl->OW;
            }
            if (c->dropout > 0) add_simple(&p, LAYER_DROPOUT, name, C, H, W, c);
        }
    }
    int F = C * H * W;
    for (int j = 0; j < c->n_hidden; j++) {
        snprintf(name, sizeof name, "fc%d", j);
        add_linear(&p, name, F, c->hidden_layers[j]);
        F = c->hidden_layers[j];
        if (c->batchnorm) add_batchnorm(&p, name, F, 1, 1);
        add_simple(&p, LAYER_ACT, name, F, 1, 1, c);
        if (c->dropout > 0) add_simple(&p, LAYER_DROPOUT, name, F, 1, 1, c);
    }
    add_linear(&p, "out", F, NN_N_CLASSES);

    /* state layout: every parameter in layer order, then every buffer */
    size_t off = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < p.n_tensors; i++) {
            if (p.tensors[i].is_buffer != pass) continue;
            p.tensors[i].offset = off;
            off += p.tensors[i].n;
        }
        if (pass == 0) p.n_params = off;
    }
    /* list the tensors in state order: params, then buffers */
    ModelTensor *sorted = nn_malloc((size_t)(p.n_tensors ? p.n_tensors : 1) * sizeof *sorted);
    int k = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < p.n_tensors; i++)
            if (p.tensors[i].is_buffer == pass) sorted[k++] = p.tensors[i];
    /* layers refer to tensors by index: remap first_tensor to the sorted
     * position of its first parameter (parameters keep their order) */
    for (int i = 0; i < p.n_layers; i++) {
        Layer *l = &p.layers[i];
        if (l->first_tensor < 0) continue;
        const char *want = p.tensors[l->first_tensor].name;
        for (int j = 0; j < k; j++)
            if (strcmp(sorted[j].name, want) == 0) l->first_tensor = j;
    }
    free(p.tensors);

    *layers = p.layers;
    *n_layers = p.n_layers;
    *tensors = sorted;
    *n_tensors = k;
    *n_params = p.n_params;
    *n_state = off;
    return NN_OK;
}

NnStatus model_layout(const RunConfig *c, ModelTensor **tensors, int *n, size_t *n_params,
                      size_t *n_state, NnError *err)
{
    Layer *layers;
    int n_layers;
    NnStatus st = model_plan(c, &layers, &n_layers, tensors, n, n_params, n_state, err);
    if (st == NN_OK) free(layers);
    return st;
}

/* Floats of the activation arena per image of max_batch. */
static size_t act_floats_per_image(const Layer *layers, int n_layers, size_t *max_act)
{
    size_t acts = 0;
    *max_act = 3 * 32 * 32;
    for (int i = 0; i < n_layers; i++) {
        const Layer *l = &layers[i];
        acts += l->out_size;
        if (l->kind == LAYER_DROPOUT || l->kind == LAYER_MAXPOOL2D)
            acts += l->out_size; /* mask, argmax (int32 = 4 bytes) */
        if (l->out_size > *max_act) *max_act = l->out_size;
    }
    return acts;
}

size_t model_bytes_per_image(const RunConfig *c)
{
    Layer *layers;
    ModelTensor *tensors;
    int n_layers, n_tensors;
    size_t n_params, n_state, max_act;
    if (model_plan(c, &layers, &n_layers, &tensors, &n_tensors, &n_params, &n_state, NULL) != NN_OK)
        return 0;
    size_t acts = act_floats_per_image(layers, n_layers, &max_act);
    free(layers);
    free(tensors);
    /* + two gradient buffers, the input and the label */
    return (acts + 2 * max_act + 3 * 32 * 32 + 1) * sizeof(float);
}

/* Index of a layer's tensor by suffix ("weight", "running_mean"). */
static const ModelTensor *layer_tensor(const Model *m, const Layer *l, const char *suffix)
{
    char want[64];
    snprintf(want, sizeof want, "%s.%s", l->name, suffix);
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, want) == 0) return &m->tensors[i];
    return NULL;
}

/* Floats an activation-arena view of n floats takes: n rounded up to 64
 * floats, so that every view starts at a 256-byte boundary of the arena
 * (itself from the backend's alloc: cudaMalloc is 256-byte aligned), as
 * cuDNN and cuBLAS want their operands (cuda_conv.cu checks). The state
 * and gradient arenas keep the exported, packed layout of model.h. */
static size_t view_floats(size_t n) { return (n + 63) / 64 * 64; }

static float *state_view(Model *m, const Layer *l, const char *suffix, float **grad)
{
    const ModelTensor *t = layer_tensor(m, l, suffix);
    if (!t) return NULL;
    if (grad) *grad = t->is_buffer ? NULL : m->grads + t->offset;
    return m->state + t->offset;
}

NnStatus model_create(const RunConfig *c, const Backend *be, int max_batch, Model **out,
                      NnError *err)
{
    *out = NULL;
    NN_CHECK(max_batch >= 1, "max_batch %d", max_batch);
    Model *m = nn_calloc(1, sizeof *m);
    m->be = be;
    m->cfg = *c;
    m->max_batch = max_batch;
    NnStatus st = model_plan(c, &m->layers, &m->n_layers, &m->tensors, &m->n_tensors,
                             &m->n_params, &m->n_state, err);
    if (st != NN_OK) {
        free(m);
        return st;
    }

    model_plan_fusion(m); /* before the workspace: fused ops may need more */

    /* activation arena: per layer its output, then saved tensors, each view
     * starting at a 256-byte boundary (view_floats) */
    size_t max_act;
    (void)act_floats_per_image(m->layers, m->n_layers, &max_act);
    size_t acts = 0;
    for (int i = 0; i < m->n_layers; i++) {
        Layer *l = &m->layers[i];
        acts += view_floats((size_t)max_batch * l->out_size);
        if (l->kind == LAYER_DROPOUT || l->kind == LAYER_MAXPOOL2D)
            acts += view_floats((size_t)max_batch * l->out_size);
        if (l->kind == LAYER_BATCHNORM) acts += view_floats(2 * (size_t)l->C);
        if (l->kind == LAYER_BATCHNORM && l->fuse_next) {
            size_t ws = be->batchnorm_act_pool_workspace_floats(max_batch, l->C, l->H, l->W);
            if (ws > m->ws_floats) m->ws_floats = ws;
        }
        if (l->kind == LAYER_CONV2D) {
            ConvShape s = {max_batch, l->C, l->H, l->W, l->OC, l->K, l->pad, l->OH, l->OW};
            size_t ws = l->fuse_bn ? conv2d_bn_workspace_floats(be, &s)
                                   : be->conv2d_workspace_floats(&s);
            if (ws > m->ws_floats) m->ws_floats = ws;
        }
    }
    m->max_act = max_act;
    size_t gsz = (size_t)max_batch * max_act;
    m->state = be->alloc(m->n_state * sizeof(float));
    m->grads = be->alloc((m->n_params ? m->n_params : 1) * sizeof(float));
    m->acts = be->alloc(acts * sizeof(float));
    m->ws = m->ws_floats ? be->alloc(m->ws_floats * sizeof(float)) : NULL;
    m->g[0] = be->alloc(gsz * sizeof(float));
    m->g[1] = be->alloc(gsz * sizeof(float));
    m->input = be->alloc((size_t)max_batch * 3 * 32 * 32 * sizeof(float));
    m->labels = be->alloc((size_t)max_batch * sizeof(int32_t));
    if (!m->state || !m->grads || !m->acts || (m->ws_floats && !m->ws) || !m->g[0] || !m->g[1] ||
        !m->input || !m->labels) {
        double mib = (double)(m->n_state + m->n_params + acts + m->ws_floats + 2 * gsz +
                              (size_t)max_batch * 3073) * 4.0 / (1 << 20);
        model_free(m);
        return nn_error_set(err, NN_ERR_RUN,
                            "out of memory on backend %s: the model needs %.0f MiB at batch %d",
                            be->name, mib, max_batch);
    }

    float *a = m->acts;
    for (int i = 0; i < m->n_layers; i++) {
        Layer *l = &m->layers[i];
        l->y = a;
        a += view_floats((size_t)max_batch * l->out_size);
        switch (l->kind) {
        case LAYER_LINEAR:
        case LAYER_CONV2D:
            l->w = state_view(m, l, "weight", &l->dw);
            l->b = state_view(m, l, "bias", &l->db);
            break;
        case LAYER_BATCHNORM:
            l->w = state_view(m, l, "weight", &l->dw);
            l->b = state_view(m, l, "bias", &l->db);
            l->rmean = state_view(m, l, "running_mean", NULL);
            l->rvar = state_view(m, l, "running_var", NULL);
            l->save = a;
            a += view_floats(2 * (size_t)l->C);
            break;
        case LAYER_DROPOUT:
            l->save = a;
            a += view_floats((size_t)max_batch * l->out_size);
            break;
        case LAYER_MAXPOOL2D:
            l->idx = (int32_t *)a;
            a += view_floats((size_t)max_batch * l->out_size);
            break;
        case LAYER_ACT: break;
        }
    }
    model_init(m, (uint64_t)c->seed);
    *out = m;
    return NN_OK;
}

void model_free(Model *m)
{
    if (!m) return;
    const Backend *be = m->be;
    be->free(m->state);
    be->free(m->grads);
    be->free(m->acts);
    be->free(m->ws);
    be->free(m->g[0]);
    be->free(m->g[1]);
    be->free(m->input);
    be->free(m->labels);
    free(m->layers);
    free(m->tensors);
    free(m->prof);
    free(m);
}

void model_init(Model *m, uint64_t seed)
{
    float *host = nn_malloc(m->n_state * sizeof(float));
    for (int i = 0; i < m->n_layers; i++) {
        const Layer *l = &m->layers[i];
        if (l->first_tensor < 0) continue;
        if (l->kind == LAYER_BATCHNORM) {
            /* gamma 1, beta 0, running mean 0, running var 1 */
            const ModelTensor *t;
            t = layer_tensor(m, l, "weight");
            for (size_t j = 0; j < t->n; j++) host[t->offset + j] = 1.0f;
            t = layer_tensor(m, l, "bias");
            memset(host + t->offset, 0, t->n * sizeof(float));
            t = layer_tensor(m, l, "running_mean");
            memset(host + t->offset, 0, t->n * sizeof(float));
            t = layer_tensor(m, l, "running_var");
            for (size_t j = 0; j < t->n; j++) host[t->offset + j] = 1.0f;
            continue;
        }
        /* linear, conv: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for both */
        const ModelTensor *w = layer_tensor(m, l, "weight");
        const ModelTensor *b = layer_tensor(m, l, "bias");
        size_t fan_in = w->n / (size_t)w->shape[0];
        float bound = (float)(1.0 / sqrt((double)fan_in));
        const ModelTensor *ts[2] = {w, b};
        for (int k = 0; k < 2; k++) {
            uint64_t hi = rng_stream(RNG_STREAM_INIT, (uint64_t)(ts[k] - m->tensors));
            for (size_t j = 0; j < ts[k]->n; j++)
                host[ts[k]->offset + j] = (2.0f * rng_uniform_at(seed, hi, j) - 1.0f) * bound;
        }
    }
    m->be->upload(m->state, host, m->n_state * sizeof(float));
    free(host);
}

const Backend *model_backend(const Model *m) { return m->be; }
int model_max_batch(const Model *m) { return m->max_batch; }
size_t model_n_params(const Model *m) { return m->n_params; }
size_t model_n_state(const Model *m) { return m->n_state; }
int model_n_tensors(const Model *m) { return m->n_tensors; }
const ModelTensor *model_tensor(const Model *m, int i)
{
    return (i >= 0 && i < m->n_tensors) ? &m->tensors[i] : NULL;
}
float *model_input(Model *m) { return m->input; }
int32_t *model_labels(Model *m) { return m->labels; }
float *model_state(Model *m) { return m->state; }
float *model_grads(Model *m) { return m->grads; }
const float *model_logits(const Model *m) { return m->logits; }

void model_get_state(const Model *m, float *host)
{
    m->be->download(host, m->state, m->n_state * sizeof(float));
}

void model_set_state(Model *m, const float *host)
{
    m->be->upload(m->state, host, m->n_state * sizeof(float));
}

void model_set_mask_replay(Model *m, int on) { m->replay_masks = on; }

float *model_dropout_mask(Model *m, int j)
{
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].kind == LAYER_DROPOUT && m->layers[i].dropout_index == j)
            return m->layers[i].save;
    return NULL;
}

void model_describe(const Model *m, NnBuf *out)
{
    static const char *const kind_names[] = {"linear", "conv2d", "maxpool2d",
                                             "batchnorm", "act", "dropout"};
    static const char *const act_names[] = {"relu", "tanh", "sigmoid", "gelu", "leaky_relu"};
    for (int i = 0; i < m->n_layers; i++) {
        const Layer *l = &m->layers[i];
        char what[64] = "";
        size_t params = 0;
        for (int t = l->first_tensor; t >= 0 && t < m->n_tensors; t++) {
            if (strncmp(m->tensors[t].name, l->name, strlen(l->name)) != 0 ||
                m->tensors[t].name[strlen(l->name)] != '.')
                break;
            params += m->tensors[t].n;
        }
        switch (l->kind) {
        case LAYER_CONV2D:
            snprintf(what, sizeof what, "%d->%d k%d p%d", l->C, l->OC, l->K, l->pad);
            break;
        case LAYER_LINEAR: snprintf(what, sizeof what, "%d->%d", l->C, l->OC); break;
        case LAYER_MAXPOOL2D: snprintf(what, sizeof what, "%dx%d", l->P, l->P); break;
        case LAYER_BATCHNORM: snprintf(what, sizeof what, "%s", l->H * l->W > 1 ? "2d" : "1d"); break;
        case LAYER_ACT: snprintf(what, sizeof what, "%s", act_names[l->act]); break;
        case LAYER_DROPOUT:
            snprintf(what, sizeof what, "%s p=%g", l->group > 1 ? "2d" : "1d", (double)l->p);
            break;
        }
        nn_buf_printf(out, "  %-12s %-10s %-16s -> (%d, %d, %d)%*s %zu params\n", l->name,
                      kind_names[l->kind], what, l->OC, l->OH, l->OW, 2, "", params);
    }
    nn_buf_printf(out, "  total %zu parameters, %zu state floats\n", m->n_params, m->n_state);
}
