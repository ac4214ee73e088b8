/* model_plan.c - the shape inference of a ModelSpec, done once: the layer
 * list with every shape, the state layout (TensorInfo table), the sizes
 * and the training flops (model.h, ModelPlan). The one place of the shape
 * arithmetic. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_impl.h"

/* Growable plan under construction. */
typedef struct Builder {
    Layer *layers;
    int n_layers, cap_layers;
    TensorInfo *tensors;
    int n_tensors, cap_tensors;
    int n_dropout;
} Builder;

static Layer *add_layer(Builder *p, LayerKind kind, const char *name, int C, int H, int W)
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

static void add_tensor(Builder *p, Layer *l, const char *suffix, int ndim, const int *shape,
                       int is_buffer)
{
    if (p->n_tensors == p->cap_tensors) {
        p->cap_tensors = p->cap_tensors ? 2 * p->cap_tensors : 32;
        p->tensors = nn_realloc(p->tensors, (size_t)p->cap_tensors * sizeof *p->tensors);
    }
    TensorInfo *t = &p->tensors[p->n_tensors];
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

static void add_linear(Builder *p, const char *name, int in, int out)
{
    Layer *l = add_layer(p, LAYER_LINEAR, name, in, 1, 1);
    l->OC = out;
    add_tensor(p, l, "weight", 2, (int[]){out, in}, 0);
    add_tensor(p, l, "bias", 1, (int[]){out}, 0);
    finish_layer(l);
}

static void add_batchnorm(Builder *p, const char *block, int C, int H, int W)
{
    char name[32];
    snprintf(name, sizeof name, "%s_bn", block);
    Layer *l = add_layer(p, LAYER_BATCHNORM, name, C, H, W);
    add_tensor(p, l, "weight", 1, (int[]){C}, 0);
    add_tensor(p, l, "bias", 1, (int[]){C}, 0);
    add_tensor(p, l, "running_mean", 1, (int[]){C}, 1);
    add_tensor(p, l, "running_var", 1, (int[]){C}, 1);
    finish_layer(l);
}

static void add_simple(Builder *p, LayerKind kind, const char *block, int C, int H, int W,
                       const ModelSpec *s)
{
    char name[32];
    snprintf(name, sizeof name, "%s_%s", block, kind == LAYER_ACT ? "act" : "drop");
    Layer *l = add_layer(p, kind, name, C, H, W);
    l->act = s->activation;
    if (kind == LAYER_DROPOUT) {
        l->p = s->dropout;
        l->group = H * W; /* dropout2d for conv blocks, 1 for features */
        l->dropout_index = p->n_dropout++;
    }
    finish_layer(l);
}

/* The conv blocks of s: conv -> batch norm? -> act -> max pool? ->
 * dropout2d?; *C, *H, *W from the image to the last block's output. */
static NnStatus add_conv_blocks(Builder *p, const ModelSpec *s, int *C, int *H, int *W,
                                NnError *err)
{
    char name[16];
    for (int i = 0; i < s->n_conv; i++) {
        int OH = *H + 2 * s->padding - s->kernel_size + 1;
        int OW = *W + 2 * s->padding - s->kernel_size + 1;
        if (OH < 1 || OW < 1)
            return nn_error_set(err, NN_ERR_INPUT,
                                "conv_layers: conv layer %d gets a %dx%d input, too small for "
                                "kernel_size %d with padding %d (its output would be %dx%d); "
                                "use fewer conv layers, more padding or a smaller kernel",
                                i + 1, *H, *W, s->kernel_size, s->padding, OH, OW);
        if (OH / s->pool_size < 1 || OW / s->pool_size < 1)
            return nn_error_set(err, NN_ERR_INPUT,
                                "conv_layers: after conv layer %d the feature map is %dx%d, "
                                "smaller than pool_size %d: it would shrink below 1x1; use "
                                "fewer conv layers, more padding or a smaller pool_size",
                                i + 1, OH, OW, s->pool_size);
        snprintf(name, sizeof name, "conv%d", i);
        Layer *l = add_layer(p, LAYER_CONV2D, name, *C, *H, *W);
        l->OC = s->conv_channels[i];
        l->K = s->kernel_size;
        l->pad = s->padding;
        l->OH = OH;
        l->OW = OW;
        add_tensor(p, l, "weight", 4, (int[]){l->OC, *C, l->K, l->K}, 0);
        add_tensor(p, l, "bias", 1, (int[]){l->OC}, 0);
        finish_layer(l);
        *C = l->OC;
        *H = OH;
        *W = OW;
        if (s->batchnorm) add_batchnorm(p, name, *C, *H, *W);
        add_simple(p, LAYER_ACT, name, *C, *H, *W, s);
        if (s->pool_size > 1) {
            char pname[32];
            snprintf(pname, sizeof pname, "%s_pool", name);
            Layer *pl = add_layer(p, LAYER_MAXPOOL2D, pname, *C, *H, *W);
            pl->P = s->pool_size;
            pl->OH = *H / s->pool_size;
            pl->OW = *W / s->pool_size;
            finish_layer(pl);
            *H = pl->OH;
            *W = pl->OW;
        }
        if (s->dropout > 0) add_simple(p, LAYER_DROPOUT, name, *C, *H, *W, s);
    }
    return NN_OK;
}

/* The state layout: offsets of every parameter in layer order, then of
 * every buffer; the table sorted into that order (layers' first_tensor
 * remapped). */
static void lay_out_state(Builder *b, ModelPlan *p)
{
    size_t off = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < b->n_tensors; i++) {
            if (b->tensors[i].is_buffer != pass) continue;
            b->tensors[i].offset = off;
            off += b->tensors[i].n;
        }
        if (pass == 0) p->n_params = off;
    }
    p->n_state = off;
    TensorInfo *sorted = nn_malloc((size_t)(b->n_tensors ? b->n_tensors : 1) * sizeof *sorted);
    int k = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < b->n_tensors; i++)
            if (b->tensors[i].is_buffer == pass) sorted[k++] = b->tensors[i];
    /* layers refer to tensors by index: remap first_tensor to the sorted
     * position of its first parameter (parameters keep their order) */
    for (int i = 0; i < b->n_layers; i++) {
        Layer *l = &b->layers[i];
        if (l->first_tensor < 0) continue;
        const char *want = b->tensors[l->first_tensor].name;
        for (int j = 0; j < k; j++)
            if (strcmp(sorted[j].name, want) == 0) l->first_tensor = j;
    }
    free(b->tensors);
    b->tensors = NULL;
    p->tensors = sorted;
    p->n_tensors = k;
}

size_t model_act_floats_per_image(const Layer *layers, int n_layers, size_t *max_act)
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

/* Multiply-adds of the forward pass of the conv and linear layers, times 3
 * for forward + backward (dx and dw), times 2 flops per multiply-add. */
static double train_flops(const Layer *layers, int n_layers)
{
    double macs = 0;
    for (int i = 0; i < n_layers; i++) {
        const Layer *l = &layers[i];
        if (l->kind == LAYER_CONV2D)
            macs += (double)l->OH * l->OW * l->OC * l->C * l->K * l->K;
        else if (l->kind == LAYER_LINEAR)
            macs += (double)l->C * l->OC;
    }
    return 6.0 * macs;
}

NnStatus model_plan_create(const ModelSpec *s, ModelPlan **out, NnError *err)
{
    *out = NULL;
    NN_CHECK(s->n_conv >= 0 && s->n_hidden >= 0 && (s->n_conv == 0 || s->conv_channels) &&
                 (s->n_hidden == 0 || s->hidden_widths),
             "model spec with %d conv and %d hidden layers", s->n_conv, s->n_hidden);
    NN_CHECK(s->n_conv == 0 || (s->kernel_size >= 1 && s->padding >= 0 && s->pool_size >= 1),
             "kernel_size %d, padding %d, pool_size %d", s->kernel_size, s->padding,
             s->pool_size);
    Builder b = {0};
    int C = 3, H = 32, W = 32;
    NnStatus st = add_conv_blocks(&b, s, &C, &H, &W, err);
    if (st != NN_OK) {
        free(b.layers);
        free(b.tensors);
        return st;
    }
    int F = C * H * W;
    char name[16];
    for (int j = 0; j < s->n_hidden; j++) {
        snprintf(name, sizeof name, "fc%d", j);
        add_linear(&b, name, F, s->hidden_widths[j]);
        F = s->hidden_widths[j];
        if (s->batchnorm) add_batchnorm(&b, name, F, 1, 1);
        add_simple(&b, LAYER_ACT, name, F, 1, 1, s);
        if (s->dropout > 0) add_simple(&b, LAYER_DROPOUT, name, F, 1, 1, s);
    }
    add_linear(&b, "out", F, NN_N_CLASSES);

    ModelPlan *p = nn_calloc(1, sizeof *p);
    lay_out_state(&b, p);
    p->layers = b.layers;
    p->n_layers = b.n_layers;
    p->seed = s->seed;
    p->train_flops_per_image = train_flops(p->layers, p->n_layers);
    size_t max_act;
    size_t acts = model_act_floats_per_image(p->layers, p->n_layers, &max_act);
    /* + two gradient buffers, the input and the label */
    p->bytes_per_image = (acts + 2 * max_act + 3 * 32 * 32 + 1) * sizeof(float);
    *out = p;
    return NN_OK;
}

void model_plan_free(ModelPlan *p)
{
    if (!p) return;
    free(p->layers);
    free(p->tensors);
    free(p);
}

void model_plan_describe(const ModelPlan *p, NnBuf *out)
{
    static const char *const kind_names[] = {"linear", "conv2d", "maxpool2d",
                                             "batchnorm", "act", "dropout"};
    static const char *const act_names[] = {"relu", "tanh", "sigmoid", "gelu", "leaky_relu"};
    for (int i = 0; i < p->n_layers; i++) {
        const Layer *l = &p->layers[i];
        char what[64] = "";
        size_t params = 0;
        for (int t = l->first_tensor; t >= 0 && t < p->n_tensors; t++) {
            if (strncmp(p->tensors[t].name, l->name, strlen(l->name)) != 0 ||
                p->tensors[t].name[strlen(l->name)] != '.')
                break;
            params += p->tensors[t].n;
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
    nn_buf_printf(out, "  total %zu parameters, %zu state floats\n", p->n_params, p->n_state);
}
