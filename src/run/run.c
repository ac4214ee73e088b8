/* run.c - a worker's lasting state and the one way to run a run (run.h). */
#include "nnsweep/run.h"

#include <stdio.h>
#include <string.h>

#include "nnsweep/config.h"
#include "nnsweep/program.h"
#include "nnsweep/train.h"

NnStatus run_host_init(RunHost *h, const char *data_dir, int gpu_index, NnError *err)
{
    memset(h, 0, sizeof *h);
    NnStatus st = cifar10_load(cifar10_default_dir(data_dir), &h->data, err);
    if (st != NN_OK) return st;
    h->has_data = 1;
    h->gpu = backend_gpu_usable();
    int gpu = gpu_index >= 0 ? gpu_index : 0;
    if (h->gpu && gpu_index >= 0) backend_cuda_use_device(gpu_index);
    if (h->gpu) {
        snprintf(h->device, sizeof h->device, "cuda:%d", gpu);
        program_gpu_label(gpu, h->cuda_visible, sizeof h->cuda_visible);
    } else {
        snprintf(h->device, sizeof h->device, "cpu");
    }
    return NN_OK;
}

void run_host_init_programs(RunHost *h, int gpu_index)
{
    memset(h, 0, sizeof *h);
    snprintf(h->device, sizeof h->device, "cpu");
    if (gpu_index < 0) return;
    h->gpu = 1;
    snprintf(h->device, sizeof h->device, "cuda:%d", gpu_index);
    program_gpu_label(gpu_index, h->cuda_visible, sizeof h->cuda_visible);
}

void run_host_free(RunHost *h)
{
    if (!h) return;
    const Backend *cuda = backend_get(BACKEND_CUDA);
    if (cuda && h->gpu_images) cuda->free(h->gpu_images);
    if (cuda && h->gpu_labels) cuda->free(h->gpu_labels);
    if (h->has_data) cifar10_free(&h->data);
    memset(h, 0, sizeof *h);
}

NnStatus run_host_data(RunHost *h, const Backend *be, TrainData *out, NnError *err)
{
    out->host = &h->data;
    if (be->host_memory) {
        out->images = h->data.images;
        out->labels = h->data.labels;
        return NN_OK;
    }
    size_t n = (size_t)h->data.n_train + (size_t)h->data.n_test;
    if (!h->gpu_images) {
        uint8_t *images = be->alloc(n * CIFAR10_IMAGE_BYTES), *labels = be->alloc(n);
        if (!images || !labels) {
            be->free(images);
            be->free(labels);
            return nn_error_set(err, NN_ERR_RUN,
                                "out of memory on backend %s for the dataset (%.0f MiB)", be->name,
                                (double)n * (CIFAR10_IMAGE_BYTES + 1) / (1 << 20));
        }
        be->upload(images, h->data.images, n * CIFAR10_IMAGE_BYTES);
        be->upload(labels, h->data.labels, n);
        h->gpu_images = images;
        h->gpu_labels = labels;
    }
    out->images = h->gpu_images;
    out->labels = h->gpu_labels;
    return NN_OK;
}

/* The built-in trainer: config JSON -> plan -> device -> train_run. */
static void execute_train(RunHost *h, const RunRequest *req, const RunHooks *hooks,
                          RunOutcome *out)
{
    RunConfig c;
    RunPlan plan = {0};
    TrainData data;
    NnError err = {{0}};
    config_defaults(&c);
    if (!h->has_data) {
        run_summary_message(&out->s, "this worker holds no dataset (it was started for "
                            "program sweeps only)");
        return;
    }
    NnStatus st = config_from_json(&c, req->json, &err);
    if (st == NN_OK) st = run_plan_create(&c, &plan, &err);
    const Backend *be = NULL;
    if (st == NN_OK) {
        out->s.n_params = (int64_t)plan.mplan->n_params;
        out->s.n_state = (int64_t)plan.mplan->n_state;
        be = backend_for_device(c.device, &err);
        st = be ? run_host_data(h, be, &data, &err) : NN_ERR_RUN;
    }
    if (st != NN_OK) {
        run_summary_message(&out->s, "%.500s", err.msg);
        if (be) snprintf(out->s.device, sizeof out->s.device, "%s", be->host_memory ? "cpu" : h->device);
        run_plan_free(&plan);
        return;
    }
    train_run(&plan, &data, be, hooks, 0, out);
    snprintf(out->s.device, sizeof out->s.device, "%s", be->host_memory ? "cpu" : h->device);
    run_plan_free(&plan);
}

void run_execute(RunHost *h, const RunRequest *req, const RunHooks *hooks, RunOutcome *out)
{
    double t0 = nn_now();
    memset(out, 0, sizeof *out);
    run_summary_init(&out->s, RUN_FAILED);
    switch (req->kind) {
    case RUN_KIND_TRAIN: execute_train(h, req, hooks, out); break;
    case RUN_KIND_PROGRAM: program_execute(h, req, hooks, out); break;
    }
    if (out->s.status == RUN_FAILED && out->s.wall_seconds == 0) out->s.wall_seconds = nn_now() - t0;
}
