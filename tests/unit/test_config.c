/* test_config.c - run config: defaults, parsing from text/YAML/JSON, error
 * messages (and the "did you mean" helper behind them), canonical JSON, run
 * ids; the run plan (checks, shapes, sizes, flops); learning-rate
 * schedules. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nnsweep/config.h"
#include "nnsweep/optim.h"
#include "nnsweep/train.h"

static int contains(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

static void test_table_sorted(void)
{
    for (int i = 1; i < config_n_keys(); i++)
        CHECK(strcmp(config_key(i - 1)->name, config_key(i)->name) < 0, "%s before %s",
              config_key(i - 1)->name, config_key(i)->name);
    CHECK(config_key_index("learning_rate") >= 0, "learning_rate missing");
    CHECK(config_key_index("nope") == -1, "unknown key found");
}

static void test_defaults_and_text(void)
{
    RunConfig c;
    NnError err;
    config_defaults(&c);
    CHECK(c.model == MODEL_MLP && c.n_hidden == 3 && c.hidden_layers[2] == 256, "default model");
    CHECK(c.batch_size == 32 && c.learning_rate == 0.05 && c.epochs == 100, "default numbers");
    CHECK(config_validate(&c, &err) == NN_OK, "defaults invalid: %s", err.msg);

    CHECK(config_set_text(&c, "learning_rate", "0.1", "--learning-rate", &err) == NN_OK, "%s",
          err.msg);
    CHECK(c.learning_rate == 0.1, "lr %g", c.learning_rate);
    CHECK(config_set_text(&c, "hidden_layers", "64,32", "--hidden-layers", &err) == NN_OK, "%s",
          err.msg);
    CHECK(c.n_hidden == 2 && c.hidden_layers[0] == 64 && c.hidden_layers[1] == 32, "list");
    CHECK(config_set_text(&c, "hidden_layers", "[128, 8]", "--hidden-layers", &err) == NN_OK,
          "%s", err.msg);
    CHECK(c.n_hidden == 2 && c.hidden_layers[1] == 8, "bracket list");
    CHECK(config_set_text(&c, "hidden_layers", "", "--hidden-layers", &err) == NN_OK, "%s",
          err.msg);
    CHECK(c.n_hidden == 0, "empty list gives %d", c.n_hidden);
    CHECK(config_set_text(&c, "betas", "0.8,0.99", "--betas", &err) == NN_OK, "%s", err.msg);
    CHECK(c.betas[0] == 0.8 && c.betas[1] == 0.99, "betas");
    CHECK(config_set_text(&c, "activation", "gelu", "--activation", &err) == NN_OK, "%s", err.msg);
    CHECK(c.activation == ACT_GELU, "enum");
    CHECK(config_set_text(&c, "batchnorm", "true", "--batchnorm", &err) == NN_OK, "%s", err.msg);
    CHECK(c.batchnorm == 1, "bool");

    /* errors name the flag and what was expected */
    NnStatus st = config_set_text(&c, "learning_rate", "fast", "--learning-rate", &err);
    CHECK(st == NN_ERR_INPUT && contains(err.msg, "--learning-rate") &&
              contains(err.msg, "expected a number") && contains(err.msg, "\"fast\""),
          "message: %s", err.msg);
    st = config_set_text(&c, "learning_rate", "-1", "--learning-rate", &err);
    CHECK(st == NN_ERR_INPUT && contains(err.msg, "(0, 1e+06]"), "range message: %s", err.msg);
    st = config_set_text(&c, "epochs", "2.5", "--epochs", &err);
    CHECK(st == NN_ERR_INPUT && contains(err.msg, "an integer"), "int message: %s", err.msg);
    st = config_set_text(&c, "dropout", "1", "--dropout", &err);
    CHECK(st == NN_ERR_INPUT, "dropout 1 accepted");
    st = config_set_text(&c, "activation", "swish", "--activation", &err);
    CHECK(st == NN_ERR_INPUT && contains(err.msg, "relu") && contains(err.msg, "leaky_relu"),
          "enum message: %s", err.msg);
    st = config_set_text(&c, "hidden_layers", "64,x", "--hidden-layers", &err);
    CHECK(st == NN_ERR_INPUT && contains(err.msg, "\"x\""), "list item message: %s", err.msg);
    st = config_set_text(&c, "learning_rte", "0.1", "--learning-rte", &err);
    CHECK(st == NN_ERR_INPUT && contains(err.msg, "unknown key") &&
              contains(err.msg, "learning_rate"),
          "unknown key message: %s", err.msg);
    st = config_set_text(&c, "learning_rate", "nan", "--learning-rate", &err);
    CHECK(st == NN_ERR_INPUT, "nan accepted");
    st = config_set_text(&c, "learning_rate", "inf", "--learning-rate", &err);
    CHECK(st == NN_ERR_INPUT, "inf accepted");
}

static void test_yaml_file(void)
{
    const char *path = "test_config_run.yaml";
    FILE *f = fopen(path, "w");
    CHECK(f != NULL, "cannot write %s", path);
    if (!f) return;
    fputs("model: cnn\nconv_layers: [8, 16]\nlearning_rate: 0.02\n"
          "padding: 2\nbatchnorm: yes\n",
          f);
    fclose(f);
    RunConfig c;
    NnError err;
    config_defaults(&c);
    CHECK(config_load_file(&c, path, &err) == NN_OK, "%s", err.msg);
    CHECK(c.model == MODEL_CNN && c.n_conv == 2 && c.conv_layers[1] == 16 && c.padding == 2 &&
              c.batchnorm && c.learning_rate == 0.02,
          "yaml values");

    f = fopen(path, "w");
    fputs("model: cnn\n\nlearning_rate: \"0.02\"\n", f);
    fclose(f);
    CHECK(config_load_file(&c, path, &err) == NN_ERR_INPUT &&
              contains(err.msg, "test_config_run.yaml:3: learning_rate") &&
              contains(err.msg, "string"),
          "quoted number message: %s", err.msg);

    f = fopen(path, "w");
    fputs("model: cnn\nlerning_rate: 0.1\n", f);
    fclose(f);
    CHECK(config_load_file(&c, path, &err) == NN_ERR_INPUT &&
              contains(err.msg, "test_config_run.yaml:2") && contains(err.msg, "lerning_rate"),
          "unknown key message: %s", err.msg);

    f = fopen(path, "w");
    fputs("model: [cnn\n", f);
    fclose(f);
    CHECK(config_load_file(&c, path, &err) == NN_ERR_INPUT &&
              contains(err.msg, "test_config_run.yaml:") && contains(err.msg, "syntax"),
          "syntax message: %s", err.msg);
    remove(path);
    CHECK(config_load_file(&c, path, &err) == NN_ERR_INPUT && contains(err.msg, path),
          "missing file message: %s", err.msg);
}

/* run_plan_create: the config's cross-key checks and the model's shapes
 * in one call. */
static void test_validate(void)
{
    RunConfig c;
    RunPlan p;
    NnError err;
    config_defaults(&c);
    c.model = MODEL_CNN;
    c.n_conv = 5;
    for (int i = 0; i < 5; i++) c.conv_layers[i] = 8;
    c.padding = 0; /* 32 -> 28/14 -> 10/5 -> 1/0: shrinks below 1x1 at layer 3 */
    CHECK(config_validate(&c, &err) == NN_OK, "shapes are not config_validate's: %s", err.msg);
    NnStatus st = run_plan_create(&c, &p, &err);
    CHECK(st == NN_ERR_INPUT && contains(err.msg, "conv_layers: ") &&
              contains(err.msg, "conv layer 3") && contains(err.msg, "1x1") && p.mplan == NULL,
          "shape message: %s", err.msg);
    c.kernel_size = 31; /* 32 -> 2: smaller than pool_size 4 at layer 1 */
    c.pool_size = 4;
    st = run_plan_create(&c, &p, &err);
    CHECK(st == NN_ERR_INPUT && contains(err.msg, "after conv layer 1 the feature map is 2x2") &&
              contains(err.msg, "pool_size 4"), "pool message: %s", err.msg);
    c.kernel_size = 5;
    c.pool_size = 2;
    c.padding = 3; /* the seed's 5-layer CNN: 34/17, 19/9, 11/5, 7/3, 5/2 */
    CHECK(run_plan_create(&c, &p, &err) == NN_OK, "seed CNN 5 rejected: %s", err.msg);
    run_plan_free(&p);

    config_defaults(&c);
    c.select_on = SELECT_VAL_ACCURACY;
    CHECK(config_validate(&c, &err) == NN_ERR_INPUT && contains(err.msg, "val_split"),
          "select_on message: %s", err.msg);
    CHECK(run_plan_create(&c, &p, &err) == NN_ERR_INPUT && contains(err.msg, "val_split"),
          "select_on message from the plan: %s", err.msg);
    c.val_split = 5000;
    CHECK(run_plan_create(&c, &p, &err) == NN_OK, "%s", err.msg);
    run_plan_free(&p);
    run_plan_free(NULL);
}

/* The plan's sizes and flops against hand counts. */
static void test_plan_sizes(void)
{
    RunConfig c;
    RunPlan p;
    NnError err;
    /* the default MLP 3072-256-256-256-10 */
    config_defaults(&c);
    CHECK(run_plan_create(&c, &p, &err) == NN_OK, "%s", err.msg);
    const ModelPlan *m = p.mplan;
    size_t macs = 3072 * 256 + 256 * 256 + 256 * 256 + 256 * 10;
    CHECK(m->n_params == macs + 256 * 3 + 10 && m->n_state == m->n_params,
          "mlp: %zu params, %zu state", m->n_params, m->n_state);
    CHECK(m->train_flops_per_image == 6.0 * (double)macs, "mlp flops %g", m->train_flops_per_image);
    CHECK(m->n_tensors == 8 && !strcmp(m->tensors[0].name, "fc0.weight") &&
              m->tensors[0].shape[0] == 256 && m->tensors[0].shape[1] == 3072 &&
              !strcmp(m->tensors[7].name, "out.bias") && m->tensors[7].offset == m->n_params - 10,
          "mlp tensor table");
    /* outputs 256 x 3 x 2 (linear, act) + 10, gradients 2 x 3072, input 3072, label 1 */
    CHECK(m->bytes_per_image == (256 * 6 + 10 + 2 * 3072 + 3072 + 1) * sizeof(float),
          "mlp bytes per image %zu", m->bytes_per_image);
    CHECK(p.model.n_conv == 0 && p.model.seed == (uint64_t)c.seed && p.config == &c,
          "an mlp has no conv blocks, whatever conv_layers says");
    run_plan_free(&p);
    CHECK(p.mplan == NULL, "run_plan_free leaves a zeroed plan");

    /* cnn 3 -> 4 (k3 p1, 32x32, pool 2 -> 16x16), batch norm, then 16*16*4 -> 10 */
    c.model = MODEL_CNN;
    c.n_conv = 1;
    c.conv_layers[0] = 4;
    c.kernel_size = 3;
    c.padding = 1;
    c.batchnorm = 1;
    c.n_hidden = 0;
    CHECK(run_plan_create(&c, &p, &err) == NN_OK, "%s", err.msg);
    m = p.mplan;
    double conv_macs = 32.0 * 32 * 4 * 3 * 3 * 3, fc_macs = 16.0 * 16 * 4 * 10;
    CHECK(m->train_flops_per_image == 6.0 * (conv_macs + fc_macs), "cnn flops %g",
          m->train_flops_per_image);
    CHECK(m->n_params == 4 * 27 + 4 + 4 + 4 + 1024 * 10 + 10 && m->n_state == m->n_params + 8,
          "cnn: %zu params, %zu state", m->n_params, m->n_state);
    CHECK(m->n_tensors == 8 && !strcmp(m->tensors[6].name, "conv0_bn.running_mean") &&
              m->tensors[6].is_buffer && m->tensors[6].offset == m->n_params,
          "cnn buffers after the parameters: %s", m->tensors[6].name);
    NnBuf d = {0};
    model_plan_describe(m, &d);
    CHECK(contains(d.data, "conv2d") && contains(d.data, "3->4 k3 p1") &&
              contains(d.data, "-> (4, 16, 16)") && contains(d.data, "total 10370 parameters"),
          "describe:\n%s", d.data);
    nn_buf_free(&d);
    run_plan_free(&p);
}

static void test_json_and_ids(void)
{
    RunConfig a, b;
    NnError err;
    config_defaults(&a);
    a.learning_rate = 0.05;
    a.weight_decay = 1e-4;
    a.seed = 12345;
    NnBuf j = {0};
    config_to_json(&a, &j);
    CHECK(contains(j.data, "\"learning_rate\":0.05,"), "json: %s", j.data);
    CHECK(contains(j.data, "\"weight_decay\":0.0001"), "json: %s", j.data);
    CHECK(contains(j.data, "\"hidden_layers\":[256,256,256]"), "json: %s", j.data);
    CHECK(j.data[0] == '{' && j.data[j.len - 1] == '}', "json braces");

    config_defaults(&b);
    CHECK(config_from_json(&b, j.data, &err) == NN_OK, "%s", err.msg);
    NnBuf j2 = {0};
    config_to_json(&b, &j2);
    CHECK(strcmp(j.data, j2.data) == 0, "round trip differs:\n%s\n%s", j.data, j2.data);

    char id1[13], id2[13], id3[13];
    config_run_id(&a, "sweep", id1);
    config_run_id(&b, "sweep", id2);
    config_run_id(&a, "other", id3);
    CHECK(strcmp(id1, id2) == 0 && strlen(id1) == 12, "ids %s %s", id1, id2);
    CHECK(strcmp(id1, id3) != 0, "sweep name not in id");
    b.learning_rate = 0.02;
    config_run_id(&b, "sweep", id2);
    CHECK(strcmp(id1, id2) != 0, "config not in id");
    nn_buf_free(&j);
    nn_buf_free(&j2);
}

static void test_lr_schedules(void)
{
    LrSpec c = {.schedule = LR_CONSTANT, .lr = 0.1, .epochs = 10, .lr_step_epochs = 30,
                .lr_gamma = 0.1};
    CHECK(fabs(optim_lr_at(&c, 57, 100) - 0.1) < 1e-12, "constant");
    c.schedule = LR_STEP;
    c.lr_step_epochs = 3;
    c.lr_gamma = 0.5;
    CHECK(fabs(optim_lr_at(&c, 299, 100) - 0.1) < 1e-12, "step epoch 2");
    CHECK(fabs(optim_lr_at(&c, 300, 100) - 0.05) < 1e-12, "step epoch 3");
    CHECK(fabs(optim_lr_at(&c, 999, 100) - 0.0125) < 1e-12, "step epoch 9");
    c.schedule = LR_COSINE;
    CHECK(fabs(optim_lr_at(&c, 0, 100) - 0.1) < 1e-12, "cosine start");
    CHECK(fabs(optim_lr_at(&c, 500, 100) - 0.05) < 1e-12, "cosine middle");
    c.warmup_epochs = 1;
    CHECK(fabs(optim_lr_at(&c, 0, 100) - 0.001) < 1e-12, "warmup first step");
    CHECK(fabs(optim_lr_at(&c, 49, 100) - 0.05) < 1e-12, "warmup middle");
    CHECK(fabs(optim_lr_at(&c, 100, 100) - 0.1) < 1e-12, "after warmup");
    /* OneCycleLR(max_lr=0.1, total_steps=1000, pct_start=0.3): torch gives
     * 0.004 at step 0, 0.1 at step 299, 4e-7 at step 999 */
    c.schedule = LR_ONECYCLE;
    c.warmup_epochs = 0;
    CHECK(fabs(optim_lr_at(&c, 0, 100) - 0.004) < 1e-12, "onecycle start %g",
          optim_lr_at(&c, 0, 100));
    CHECK(fabs(optim_lr_at(&c, 299, 100) - 0.1) < 1e-12, "onecycle peak %g",
          optim_lr_at(&c, 299, 100));
    CHECK(fabs(optim_lr_at(&c, 999, 100) - 4e-7) < 1e-15, "onecycle end %g",
          optim_lr_at(&c, 999, 100));
}

/* The closest of names to word, or "" (nn_suggest). */
static const char *suggest(const char *word, const char *const *names)
{
    NnSuggest near;
    nn_suggest_init(&near, word);
    for (int i = 0; names[i]; i++) nn_suggest_offer(&near, names[i]);
    return near.best ? near.best : "";
}

static void test_suggest(void)
{
    static const char *const opts[] = {"out", "resume", "threads", "top", "name-suffix", NULL};
    CHECK(!strcmp(suggest("thread", opts), "threads"), "thread");
    CHECK(!strcmp(suggest("resme", opts), "resume"), "resme");
    CHECK(!strcmp(suggest("outfoo", opts), "out"), "a longer word with a name as prefix");
    CHECK(!strcmp(suggest("name_sufix", opts), "name-suffix"), "'_' = '-'");
    CHECK(!strcmp(suggest("tpo", opts), "top"), "tpo");
    CHECK(!strcmp(suggest("x", opts), ""), "nothing close to x: %s", suggest("x", opts));
    CHECK(!strcmp(suggest("quiet", opts), ""), "nothing close to quiet");
    CHECK(!strcmp(suggest("th", opts), ""), "2 characters are no prefix");
    CHECK(!strcmp(suggest("to", opts), "top"), "one letter off");
    static const char *const keys[] = {"learning_rate", "lr_gamma", "label_smoothing", NULL};
    CHECK(!strcmp(suggest("learn", keys), "learning_rate"), "a prefix of a key");
    CHECK(!strcmp(suggest("lr_gama", keys), "lr_gamma"), "lr_gama");
}

int main(void)
{
    test_suggest();
    test_table_sorted();
    test_defaults_and_text();
    test_yaml_file();
    test_validate();
    test_plan_sizes();
    test_json_and_ids();
    test_lr_schedules();
    return check_exit_code();
}
