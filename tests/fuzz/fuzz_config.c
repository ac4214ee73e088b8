/* fuzz_config.c - libFuzzer target: a run config (canonical JSON as rank 0
 * sends it to workers, or a YAML run config file) through the parser and
 * the checks; a config that loads writes canonical JSON that loads again
 * into the same JSON (a round trip). Nothing may crash, leak or hang.
 * tests/fuzz/README.md says how it runs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nnsweep/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* config_from_json takes a C string: the input up to its first NUL */
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    RunConfig c;
    config_defaults(&c);
    NnError err = {{0}};
    NnStatus st = config_from_json(&c, text, &err);
    if (st == NN_OK) {
        (void)config_validate(&c, &err);
        NnBuf json = {0};
        config_to_json(&c, &json);
        RunConfig again;
        config_defaults(&again);
        NN_CHECK(config_from_json(&again, json.data, &err) == NN_OK,
                 "canonical JSON does not load: %s (%s)", err.msg, json.data);
        NnBuf json2 = {0};
        config_to_json(&again, &json2);
        NN_CHECK(!strcmp(json.data, json2.data), "round trip differs: %s / %s", json.data,
                 json2.data);
        char id[13], id2[13];
        config_run_id(&c, "fuzz", id);
        config_run_id(&again, "fuzz", id2);
        NN_CHECK(!strcmp(id, id2), "run ids differ");
        nn_buf_free(&json);
        nn_buf_free(&json2);
    } else {
        NN_CHECK(st == NN_ERR_INPUT, "config_from_json: status %d", (int)st);
    }
    /* the same text as a YAML run config file (one mapping of keys) */
    YNode **docs = NULL;
    int n = 0;
    if (ynode_parse(text, size, "fuzz.yaml", &docs, &n, &err) == NN_OK) {
        for (int d = 0; d < n; d++) {
            RunConfig y;
            config_defaults(&y);
            if (docs[d] && docs[d]->kind == YNODE_MAP &&
                config_set_map(&y, docs[d], "fuzz.yaml", &err) == NN_OK)
                (void)config_validate(&y, &err);
            ynode_free(docs[d]);
        }
        free(docs);
    }
    free(text);
    return 0;
}
