/* train.c - the train/evaluate loop of one run (see train.h for the
 * semantics of epochs, the best epoch, early stopping and divergence). */
#include "nnsweep/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnsweep/rng.h"

/* Evaluation batches are bounded by this much backend memory. */
#define EVAL_MEMORY_BYTES ((size_t)512 << 20)
#define EVAL_BATCH_MAX 1000
/* Device backends read the loss back every this many batches. */
#define DEVICE_CHECK_EVERY 100

/* The data of a run on its backend: the dataset's arrays in backend memory
 * (borrowed: a worker's resident copy), the run's split of them, the epoch
 * order and the sequential order used for evaluation. */
typedef struct RunData {
    const Backend *be;
    const TrainData *src;
    DataSplit split;       /* ranges of the dataset's images */
    int32_t *order_host;   /* (n_train) */
    int32_t *order;        /* backend memory (aliases order_host on host) */
    int32_t *iota;         /* backend memory: 0, 1, 2, ... (max split size) */
    int32_t *iota_host;
} RunData;

/* Range r's images and labels in backend memory. */
static const uint8_t *range_images(const RunData *d, DataRange r)
{
    return d->src->images + (size_t)r.first * CIFAR10_IMAGE_BYTES;
}

static const uint8_t *range_labels(const RunData *d, DataRange r) { return d->src->labels + r.first; }

static void run_data_free(RunData *d)
{
    const Backend *be = d->be;
    if (!be->host_memory) {
        be->free(d->order);
        be->free(d->iota);
    }
    free(d->order_host);
    free(d->iota_host);
    memset(d, 0, sizeof *d);
}

static NnStatus run_data_init(RunData *d, const Backend *be, const TrainData *data,
                              const RunConfig *c, NnError *err)
{
    memset(d, 0, sizeof *d);
    d->be = be;
    d->src = data;
    NnStatus st =
        data_split(data->host, c->val_split, c->train_images, c->test_images, &d->split, err);
    if (st != NN_OK) return st;
    int n_max = d->split.train.n;
    if (d->split.val.n > n_max) n_max = d->split.val.n;
    if (d->split.test.n > n_max) n_max = d->split.test.n;
    d->order_host = nn_malloc((size_t)d->split.train.n * sizeof(int32_t));
    d->iota_host = nn_malloc((size_t)n_max * sizeof(int32_t));
    for (int i = 0; i < n_max; i++) d->iota_host[i] = i;
    if (be->host_memory) {
        d->order = d->order_host;
        d->iota = d->iota_host;
        return NN_OK;
    }
    d->order = be->alloc((size_t)d->split.train.n * sizeof(int32_t));
    d->iota = be->alloc((size_t)n_max * sizeof(int32_t));
    if (!d->order || !d->iota) {
        run_data_free(d);
        return nn_error_set(err, NN_ERR_RUN, "out of memory on backend %s for the epoch order",
                            be->name);
    }
    be->upload(d->iota, d->iota_host, (size_t)n_max * sizeof(int32_t));
    return NN_OK;
}

static void read_acc(const Backend *be, const double *acc, double out[2])
{
    be->download(out, acc, 2 * sizeof(double));
}

/* Mean loss and accuracy of the model in eval mode over a range. When
 * confusion is not NULL, also counts (true, predicted) pairs (this reads
 * every batch's logits back). */
static void evaluate_range(Model *m, const RunData *d, DataRange r, const BatchSpec *spec,
                           int eval_batch, double *acc, double *loss, double *accuracy,
                           long confusion[10][10])
{
    const Backend *be = model_backend(m);
    if (r.n == 0) {
        *loss = *accuracy = NAN;
        return;
    }
    const uint8_t *images = range_images(d, r), *labels = range_labels(d, r);
    const uint8_t *host_labels = d->src->host->labels + r.first;
    float logits[EVAL_BATCH_MAX * NN_N_CLASSES];
    be->zero(acc, 2 * sizeof(double));
    for (int start = 0; start < r.n; start += eval_batch) {
        int B = r.n - start < eval_batch ? r.n - start : eval_batch;
        be->gather_batch(images, labels, d->iota + start, B, spec, model_input(m),
                         model_labels(m));
        model_forward(m, B, 0, 0);
        model_loss(m, B, 0.0f, 0, acc);
        if (confusion) {
            be->download(logits, model_logits(m), (size_t)B * NN_N_CLASSES * sizeof(float));
            for (int i = 0; i < B; i++) {
                int best = 0;
                for (int k = 1; k < NN_N_CLASSES; k++)
                    if (logits[i * NN_N_CLASSES + k] > logits[i * NN_N_CLASSES + best]) best = k;
                confusion[host_labels[start + i]][best]++;
            }
        }
    }
    double a[2];
    read_acc(be, acc, a);
    *loss = a[0] / r.n;
    *accuracy = a[1] / r.n;
}

/* Images per evaluation batch: as many as fit the memory budget, at least
 * the training batch, at most EVAL_BATCH_MAX. */
static int choose_eval_batch(const RunPlan *p, int requested)
{
    const RunConfig *c = p->config;
    if (requested > 0) return requested < EVAL_BATCH_MAX ? requested : EVAL_BATCH_MAX;
    size_t fit = EVAL_MEMORY_BYTES / p->mplan->bytes_per_image;
    int b = fit > EVAL_BATCH_MAX ? EVAL_BATCH_MAX : (int)fit;
    if (b > 500) b = 500;
    return b > c->batch_size ? b : (c->batch_size < EVAL_BATCH_MAX ? c->batch_size : EVAL_BATCH_MAX);
}

static void batch_spec(const RunConfig *c, const float mean[3], const float std[3], Augment aug,
                       BatchSpec *spec)
{
    memset(spec, 0, sizeof *spec);
    for (int i = 0; i < 3; i++) {
        spec->mean[i] = mean[i];
        spec->std[i] = std[i];
    }
    spec->augment = aug;
    spec->seed = (uint64_t)c->seed;
}

static void norm_stats(const RunConfig *c, const Cifar10 *host, DataRange train, float mean[3],
                       float std[3])
{
    if (c->normalize == NORM_MEANSTD) {
        data_channel_stats(host->images + (size_t)train.first * CIFAR10_IMAGE_BYTES, train.n, mean,
                           std);
        return;
    }
    for (int i = 0; i < 3; i++) mean[i] = std[i] = 0.5f;
}

/* Everything a run holds while it trains. */
typedef struct Trainer {
    const RunPlan *p;
    const RunConfig *c; /* p->config */
    const Backend *be;
    RunData data;
    Model *model;
    Optimizer *opt;
    double *acc;
    BatchSpec eval_spec, train_spec;
    int eval_batch;
} Trainer;

static void trainer_free(Trainer *t)
{
    if (t->acc) t->be->free(t->acc);
    optim_free(t->opt);
    model_free(t->model);
    if (t->data.be) run_data_free(&t->data);
}

static NnStatus trainer_init(Trainer *t, const RunPlan *p, const TrainData *data,
                             const Backend *be, int eval_batch, NnError *err)
{
    const RunConfig *c = p->config;
    memset(t, 0, sizeof *t);
    t->p = p;
    t->c = c;
    t->be = be;
    NnStatus st = NN_OK;
    if (c->precision != PREC_FP32 && !be->set_precision)
        st = nn_error_set(err, NN_ERR_RUN,
                          "precision: %s needs the cuda backend, but this run is on %s",
                          c->precision == PREC_BF16 ? "bf16" : "tf32", be->name);
    if (st == NN_OK && be->set_precision) be->set_precision((int)c->precision);
    if (st == NN_OK) st = run_data_init(&t->data, be, data, c, err);
    if (st != NN_OK) return st;
    float mean[3], std[3];
    norm_stats(c, data->host, t->data.split.train, mean, std);
    batch_spec(c, mean, std, AUG_NONE, &t->eval_spec);
    batch_spec(c, mean, std, c->augment, &t->train_spec);
    t->eval_batch = choose_eval_batch(p, eval_batch);
    int max_batch = t->eval_batch > c->batch_size ? t->eval_batch : c->batch_size;
    st = model_create(p->mplan, be, max_batch, &t->model, err);
    if (st == NN_OK) st = optim_create(&p->optim, be, p->mplan->n_params, &t->opt, err);
    if (st == NN_OK) {
        t->acc = be->alloc(2 * sizeof(double));
        if (!t->acc) st = nn_error_set(err, NN_ERR_RUN, "out of memory on backend %s", be->name);
    }
    if (st != NN_OK) trainer_free(t);
    return st;
}

enum { EPOCH_OK = 0, EPOCH_DIVERGED, EPOCH_STOPPED, EPOCH_FAILED };

/* The backend's failed run since the last check (backend_take_failure:
 * e.g. out of GPU memory inside cuDNN) into message: 1, else 0. */
static int backend_failed(const Backend *be, char *message, size_t message_size)
{
    NnError why;
    if (backend_take_failure(be, &why) == NN_OK) return 0;
    snprintf(message, message_size, "%.500s", why.msg);
    return 1;
}

/* One epoch of training. Returns EPOCH_OK, EPOCH_DIVERGED when the loss
 * stopped being finite, EPOCH_STOPPED when should_stop asked,
 * EPOCH_FAILED when an op of the backend failed (message filled in all
 * but the first case). */
static int train_epoch(Trainer *t, const RunHooks *hooks, int epoch, long *step, double *loss,
                       double *accuracy, double *lr, char *message, size_t message_size)
{
    const RunConfig *c = t->c;
    const Backend *be = t->be;
    Model *m = t->model;
    DataRange r = t->data.split.train;
    const uint8_t *images = range_images(&t->data, r), *labels = range_labels(&t->data, r);
    int n = r.n;
    long steps_per_epoch = (n + c->batch_size - 1) / c->batch_size;
    double a[2] = {0, 0};
    int seen = 0, batch = 0;

    data_epoch_order(t->data.order_host, n, (uint64_t)c->seed, epoch);
    if (!be->host_memory) be->upload(t->data.order, t->data.order_host, (size_t)n * sizeof(int32_t));
    be->zero(t->acc, 2 * sizeof(double));
    for (int start = 0; start < n; start += c->batch_size, batch++) {
        int B = n - start < c->batch_size ? n - start : c->batch_size;
        /* batch norm cannot train on one image (PyTorch raises): drop it */
        if (B == 1 && c->batchnorm) break;
        if (hooks->should_cancel && hooks->should_cancel(hooks->user)) {
            snprintf(message, message_size, "stopped in epoch %d, batch %d", epoch, batch + 1);
            return EPOCH_STOPPED;
        }
        t->train_spec.hi = rng_stream(RNG_STREAM_AUGMENT, (uint64_t)epoch << 32 | (uint64_t)batch);
        be->gather_batch(images, labels, t->data.order + start, B, &t->train_spec, model_input(m),
                         model_labels(m));
        model_forward(m, B, 1, (uint64_t)*step);
        model_loss(m, B, (float)c->label_smoothing, 1, t->acc);
        *lr = optim_lr_at(&t->p->lr, *step, steps_per_epoch);
        train_backward_update(m, t->opt, B, (float)*lr);
        if (backend_failed(be, message, message_size)) return EPOCH_FAILED;
        (*step)++;
        seen += B;
        if (be->host_memory || batch % DEVICE_CHECK_EVERY == DEVICE_CHECK_EVERY - 1) {
            read_acc(be, t->acc, a);
            if (!isfinite(a[0])) {
                snprintf(message, message_size,
                         "loss became %s in epoch %d, batch %d (learning_rate %g)",
                         isnan(a[0]) ? "NaN" : "Inf", epoch, batch + 1, *lr);
                *loss = a[0];
                *accuracy = a[1] / seen;
                return EPOCH_DIVERGED;
            }
        }
    }
    read_acc(be, t->acc, a);
    *loss = seen ? a[0] / seen : NAN;
    *accuracy = seen ? a[1] / seen : NAN;
    if (!isfinite(*loss)) {
        snprintf(message, message_size, "loss became %s in epoch %d (learning_rate %g)",
                 isnan(*loss) ? "NaN" : "Inf", epoch, *lr);
        return EPOCH_DIVERGED;
    }
    return EPOCH_OK;
}

static void evaluate_splits(Trainer *t, EpochMetrics *e, int with_train)
{
    const DataSplit *s = &t->data.split;
    if (with_train)
        evaluate_range(t->model, &t->data, s->train, &t->eval_spec, t->eval_batch, t->acc,
                       &e->train_loss, &e->train_accuracy, NULL);
    evaluate_range(t->model, &t->data, s->val, &t->eval_spec, t->eval_batch, t->acc, &e->val_loss,
                   &e->val_accuracy, NULL);
    evaluate_range(t->model, &t->data, s->test, &t->eval_spec, t->eval_batch, t->acc,
                   &e->test_loss, &e->test_accuracy, NULL);
}

void train_backward_update(Model *m, Optimizer *o, int B, float lr)
{
    /* fused where the backend can fuse the dense layers' update into their
     * backward; elsewhere one update over all parameters is cheaper than
     * one per tensor (a kernel launch each on a device) */
    float weight_decay;
    if (optim_is_plain_sgd(o, &weight_decay) && model_backend(m)->linear_backward_sgd) {
        model_backward_sgd(m, B, lr, weight_decay);
        return;
    }
    model_backward(m, B);
    optim_step(o, model_state(m), model_grads(m), lr);
}

/* The hook's verdict after epoch `epoch` (GO_ON without a hook). */
static RunVerdict ask(const RunHooks *hooks, const EpochMetrics *e)
{
    return hooks->on_epoch ? hooks->on_epoch(e, hooks->user) : RUN_GO_ON;
}

void train_run(const RunPlan *p, const TrainData *data, const Backend *be, const RunHooks *hooks,
               int eval_batch, RunOutcome *out)
{
    static const RunHooks no_hooks = {0};
    const RunConfig *c = p->config;
    RunSummary *s = &out->s;
    double t_start = nn_now();
    hooks = hooks ? hooks : &no_hooks;
    out->best_state = NULL;
    run_summary_init(s, RUN_FAILED);
    s->n_params = (int64_t)p->mplan->n_params;
    s->n_state = (int64_t)p->mplan->n_state;

    Trainer t;
    NnError err = {{0}};
    NnStatus st = trainer_init(&t, p, data, be, eval_batch, &err);
    if (st == NN_OK && backend_failed(be, err.msg, sizeof err.msg)) {
        trainer_free(&t);
        st = NN_ERR_RUN;
    }
    if (st != NN_OK) {
        /* out of memory, a precision or split the backend or data lack: a
         * failed run, not an error of the process; the backend's reason,
         * when it has one, is the precise one */
        if (!backend_failed(be, s->message, sizeof s->message))
            run_summary_message(s, "%.500s", err.msg);
        s->wall_seconds = nn_now() - t_start;
        return;
    }
    float *best = nn_malloc((size_t)s->n_state * sizeof(float));

    /* epoch 0: the initialized model, every split in eval mode */
    EpochMetrics e = {0};
    double t_epoch = nn_now();
    evaluate_splits(&t, &e, 1);
    if (backend_failed(t.be, s->message, sizeof s->message)) {
        s->status = RUN_FAILED;
        free(best);
        trainer_free(&t);
        s->wall_seconds = nn_now() - t_start;
        return;
    }
    long steps_per_epoch = (t.data.split.train.n + c->batch_size - 1) / c->batch_size;
    e.learning_rate = optim_lr_at(&p->lr, 0, steps_per_epoch);
    double top = c->select_on == SELECT_VAL_ACCURACY ? e.val_accuracy : e.test_accuracy;
    e.top_accuracy = top;
    e.seconds = nn_now() - t_epoch;
    model_get_state(t.model, best);
    s->best_epoch = 0;
    s->best_val_accuracy = e.val_accuracy;
    s->best_test_accuracy = e.test_accuracy;
    s->status = RUN_DONE;
    RunVerdict verdict = ask(hooks, &e);

    long step = 0;
    double lr = e.learning_rate;
    for (int epoch = 1; epoch <= c->epochs && verdict == RUN_GO_ON; epoch++) {
        t_epoch = nn_now();
        memset(&e, 0, sizeof e);
        e.epoch = epoch;
        int how = train_epoch(&t, hooks, epoch, &step, &e.train_loss, &e.train_accuracy, &lr,
                              s->message, sizeof s->message);
        e.learning_rate = lr;
        if (how == EPOCH_STOPPED) {
            s->status = RUN_INTERRUPTED;
            break;
        }
        if (how == EPOCH_OK) evaluate_splits(&t, &e, 0);
        if (how == EPOCH_FAILED || backend_failed(t.be, s->message, sizeof s->message)) {
            s->status = RUN_FAILED; /* this epoch's metrics are meaningless */
            break;
        }
        if (how == EPOCH_DIVERGED) {
            e.val_loss = e.val_accuracy = e.test_loss = e.test_accuracy = NAN;
            e.top_accuracy = top;
            e.seconds = nn_now() - t_epoch;
            s->status = RUN_DIVERGED;
            s->epochs_done = epoch;
            ask(hooks, &e); /* the row is recorded; the run ends whatever the answer */
            break;
        }
        double sel = c->select_on == SELECT_VAL_ACCURACY ? e.val_accuracy : e.test_accuracy;
        if (sel > top) {
            top = sel;
            s->best_epoch = epoch;
            s->best_val_accuracy = e.val_accuracy;
            s->best_test_accuracy = e.test_accuracy;
            model_get_state(t.model, best);
        }
        e.top_accuracy = top;
        e.seconds = nn_now() - t_epoch;
        s->epochs_done = epoch;
        verdict = ask(hooks, &e);
        if (epoch == c->epochs) break; /* trained to the end: done, whatever the verdict */
        if (c->patience > 0 && epoch - s->best_epoch >= c->patience && verdict == RUN_GO_ON) break;
    }
    if (s->status == RUN_DONE && verdict == RUN_STOP_EARLY && s->epochs_done < c->epochs) {
        s->status = RUN_STOPPED;
        run_summary_message(s, "stopped by the sweep's stopping rule after epoch %d",
                            s->epochs_done);
    } else if (s->status == RUN_DONE && verdict == RUN_CANCEL && s->epochs_done < c->epochs) {
        s->status = RUN_INTERRUPTED;
        run_summary_message(s, "stopped after epoch %d", s->epochs_done);
    }

    if (top >= c->save_weights_min_accuracy)
        out->best_state = best;
    else
        free(best);
    trainer_free(&t);
    s->wall_seconds = nn_now() - t_start;
}

NnStatus train_evaluate(const RunPlan *p, const float *state, size_t n_state,
                        const TrainData *data, const Backend *be, EvalResult *out, NnError *err)
{
    memset(out, 0, sizeof *out);
    Trainer t;
    NnStatus st = trainer_init(&t, p, data, be, 0, err);
    if (st == NN_ERR_RUN) backend_take_failure(be, err); /* the precise reason, if any */
    if (st != NN_OK) return st;
    if (n_state != model_n_state(t.model)) {
        trainer_free(&t);
        return nn_error_set(err, NN_ERR_INPUT,
                            "stored weights have %zu values but the run's model has %zu", n_state,
                            model_n_state(t.model));
    }
    model_set_state(t.model, state);
    evaluate_range(t.model, &t.data, t.data.split.test, &t.eval_spec, t.eval_batch, t.acc,
                   &out->loss, &out->accuracy, out->confusion);
    out->n = t.data.split.test.n;
    trainer_free(&t);
    return backend_take_failure(be, err);
}
