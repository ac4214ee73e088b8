/* fuzz_sweep.c - libFuzzer target: a sweep file (any bytes) through the
 * whole load (YAML, every key of W&B's schema, parameters, expansion,
 * overrides' merge), then what `nnsweep expand` does with it (describe, a
 * search sweep's first proposals). A load either succeeds or fails with
 * one NN_ERR_INPUT message "file:line: ..."; nothing may crash, leak or
 * hang. tests/fuzz/README.md says how it runs. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnsweep/sweep.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A document asking for more than this many runs is skipped: each run costs
 * the same parsing and planning, only more of it (a grid of 100000 runs is
 * a legitimate, slow input). */
#define MAX_RUNS_FUZZED 2000

static int asks_many_runs(const char *text, size_t len)
{
    YNode **docs = NULL;
    int n = 0;
    NnError err;
    int many = 0;
    if (ynode_parse(text, len, "fuzz.yaml", &docs, &n, &err) != NN_OK) return 0;
    for (int d = 0; d < n; d++) {
        static const char *const keys[] = {"run_cap", "count"};
        for (int k = 0; k < 2 && docs[d]; k++) {
            long v;
            const YNode *c = ynode_get(docs[d], keys[k]);
            if (c && ynode_as_long(c, &v) && v > MAX_RUNS_FUZZED) many = 1;
        }
        ynode_free(docs[d]);
    }
    free(docs);
    return many;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    if (asks_many_runs(text, size)) return 0;
    SweepSet set = {0};
    NnError err = {{0}};
    NnStatus st = sweep_load_text(&set, text, size, "fuzz.yaml", NULL, NULL, &err);
    if (st != NN_OK) {
        NN_CHECK(st == NN_ERR_INPUT && set.n_sweeps == 0, "load failed with status %d", (int)st);
        NN_CHECK(!strncmp(err.msg, "fuzz.yaml:", 10), "message without file:line: %s", err.msg);
        return 0;
    }
    for (int k = 0; k < set.n_sweeps; k++) {
        NnBuf out = {0};
        sweep_describe(&set.sweeps[k], 3, &out); /* proposes 3 runs of a search sweep */
        nn_buf_free(&out);
    }
    sweep_set_free(&set);
    return 0;
}
