/* model.c - building a model from its plan: the arenas and the layers'
 * views into them, the steps (model_steps.c), PyTorch default
 * initialization, state copies. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_impl.h"
#include "nnsweep/rng.h"

/* Index of a layer's tensor by suffix ("weight", "running_mean"). */
static const TensorInfo *layer_tensor(const Model *m, const Layer *l, const char *suffix)
{
    char want[64];
    snprintf(want, sizeof want, "%s.%s", l->name, suffix);
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, want) == 0) return &m->tensors[i];
    return NULL;
}


static float *state_view(Model *m, const Layer *l, const char *suffix, float **grad)
{
    const TensorInfo *t = layer_tensor(m, l, suffix);
    if (!t) return NULL;
    if (grad) *grad = t->is_buffer ? NULL : m->grads + t->offset;
    return m->state + t->offset;
}

/* A view of `bytes` taken from the work arena at a NN_MODEL_ALIGN
 * boundary; with base NULL only the size is counted (and NULL returned). */
typedef struct Arena {
    char *base;
    size_t used;
} Arena;

static void *arena_take(Arena *a, size_t bytes)
{
    void *p = a->base ? a->base + a->used : NULL;
    a->used += (bytes + NN_MODEL_ALIGN - 1) / NN_MODEL_ALIGN * NN_MODEL_ALIGN;
    return p;
}

/* Places every view of the work arena from base (aligned to
 * NN_MODEL_ALIGN), or with base NULL only measures: returns the bytes
 * used. The input, labels, the two gradient buffers and the workspace,
 * then per layer its output and saved tensors. */
static size_t place_work(Model *m, char *base)
{
    Arena a = {base, 0};
    size_t B = (size_t)m->max_batch;
    m->input = arena_take(&a, B * 3 * 32 * 32 * sizeof(float));
    m->labels = arena_take(&a, B * sizeof(int32_t));
    m->g[0] = arena_take(&a, B * m->max_act * sizeof(float));
    m->g[1] = arena_take(&a, B * m->max_act * sizeof(float));
    m->ws = m->ws_floats ? arena_take(&a, m->ws_floats * sizeof(float)) : NULL;
    for (int i = 0; i < m->n_layers; i++) {
        Layer *l = &m->layers[i];
        size_t out = B * l->out_size * sizeof(float);
        l->y = arena_take(&a, out);
        if (l->kind == LAYER_BATCHNORM) l->save = arena_take(&a, 2 * (size_t)l->C * sizeof(float));
        if (l->kind == LAYER_DROPOUT) l->save = arena_take(&a, out);
        if (l->kind == LAYER_MAXPOOL2D) l->idx = arena_take(&a, B * l->out_size * sizeof(int32_t));
    }
    return a.used;
}

NnStatus model_create(const ModelPlan *p, const Backend *be, int max_batch, Model **out,
                      NnError *err)
{
    *out = NULL;
    NN_CHECK(max_batch >= 1, "max_batch %d", max_batch);
    Model *m = nn_calloc(1, sizeof *m);
    m->be = be;
    m->seed = p->seed;
    m->max_batch = max_batch;
    m->n_layers = p->n_layers;
    m->layers = nn_malloc((size_t)p->n_layers * sizeof *m->layers);
    memcpy(m->layers, p->layers, (size_t)p->n_layers * sizeof *m->layers);
    m->n_tensors = p->n_tensors;
    m->tensors = nn_malloc((size_t)(p->n_tensors ? p->n_tensors : 1) * sizeof *m->tensors);
    memcpy(m->tensors, p->tensors, (size_t)p->n_tensors * sizeof *m->tensors);
    m->n_params = p->n_params;
    m->n_state = p->n_state;

    model_plan_steps(m); /* before the workspace: fused ops may need more */
    for (int i = 0; i < m->n_steps; i++)
        if (m->steps[i].ws_floats > m->ws_floats) m->ws_floats = m->steps[i].ws_floats;
    model_act_floats_per_image(m->layers, m->n_layers, &m->max_act);

    size_t work = place_work(m, NULL);
    m->state = be->alloc(m->n_state * sizeof(float));
    m->grads = be->alloc((m->n_params ? m->n_params : 1) * sizeof(float));
    m->work = be->alloc(work + NN_MODEL_ALIGN - 1);
    if (!m->state || !m->grads || !m->work) {
        double mib = ((double)(m->n_state + m->n_params) * sizeof(float) + (double)work) /
                     (1 << 20);
        model_free(m);
        return nn_error_set(err, NN_ERR_RUN,
                            "out of memory on backend %s: the model needs %.0f MiB at batch %d",
                            be->name, mib, max_batch);
    }
    uintptr_t at = (uintptr_t)m->work;
    place_work(m, (char *)((at + NN_MODEL_ALIGN - 1) & ~(uintptr_t)(NN_MODEL_ALIGN - 1)));

    for (int i = 0; i < m->n_layers; i++) {
        Layer *l = &m->layers[i];
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
            break;
        case LAYER_DROPOUT:
        case LAYER_MAXPOOL2D:
        case LAYER_ACT: break;
        }
    }
    model_bind_steps(m);
    model_init(m, p->seed);
    *out = m;
    return NN_OK;
}

void model_free(Model *m)
{
    if (!m) return;
    const Backend *be = m->be;
    be->free(m->state);
    be->free(m->grads);
    be->free(m->work);
    free(m->layers);
    free(m->steps);
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
            const TensorInfo *t;
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
        const TensorInfo *w = layer_tensor(m, l, "weight");
        const TensorInfo *b = layer_tensor(m, l, "bias");
        size_t fan_in = w->n / (size_t)w->shape[0];
        float bound = (float)(1.0 / sqrt((double)fan_in));
        const TensorInfo *ts[2] = {w, b};
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
const TensorInfo *model_tensor(const Model *m, int i)
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
