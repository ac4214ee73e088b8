/* yamltree.c - YAML streams to YNode trees with line numbers (libyaml's
 * event parser: aliases are visible as events there and can be refused). */
#include "nnsweep/yamltree.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#define YT_MAX_DEPTH 64

static YNode *ynode_new(YNodeKind kind, int line)
{
    YNode *n = nn_calloc(1, sizeof *n);
    n->kind = kind;
    n->line = line;
    return n;
}

void ynode_free(YNode *n)
{
    if (!n) return;
    for (int i = 0; i < n->n; i++) {
        ynode_free(n->items[i]);
        if (n->keys) free(n->keys[i]);
    }
    free(n->items);
    free(n->keys);
    free(n->key_lines);
    free(n->value);
    free(n);
}

/* Appends child (with key for maps) to parent. */
static void ynode_push(YNode *parent, YNode *child, char *key, int key_line)
{
    parent->items = nn_realloc(parent->items, (size_t)(parent->n + 1) * sizeof *parent->items);
    parent->items[parent->n] = child;
    if (parent->kind == YNODE_MAP) {
        parent->keys = nn_realloc(parent->keys, (size_t)(parent->n + 1) * sizeof *parent->keys);
        parent->key_lines =
            nn_realloc(parent->key_lines, (size_t)(parent->n + 1) * sizeof *parent->key_lines);
        parent->keys[parent->n] = key;
        parent->key_lines[parent->n] = key_line;
    }
    parent->n++;
}

/* Parser state: a stack of open collections; for maps, the pending key. */
typedef struct Frame {
    YNode *node;
    char *key; /* map: key read, value pending */
    int key_line;
} Frame;

typedef struct Builder {
    Frame stack[YT_MAX_DEPTH];
    int depth;
    YNode *root;
    const char *name;
} Builder;

/* Attaches a finished node to the open collection (or makes it the root).
 * Returns an error for a non-scalar map key or a duplicate key. */
static NnStatus builder_attach(Builder *b, YNode *node, NnError *err)
{
    if (b->depth == 0) {
        b->root = node;
        return NN_OK;
    }
    Frame *f = &b->stack[b->depth - 1];
    if (f->node->kind == YNODE_SEQ) {
        ynode_push(f->node, node, NULL, 0);
        return NN_OK;
    }
    if (!f->key) { /* this node is a key */
        if (node->kind != YNODE_SCALAR) {
            int line = node->line;
            ynode_free(node);
            return nn_error_set(err, NN_ERR_INPUT, "%s:%d: a mapping key must be a plain scalar",
                                b->name, line);
        }
        for (int i = 0; i < f->node->n; i++) {
            if (strcmp(f->node->keys[i], node->value) == 0) {
                NnStatus st = nn_error_set(err, NN_ERR_INPUT,
                                           "%s:%d: duplicate key '%s' (first at line %d)", b->name,
                                           node->line, node->value, f->node->key_lines[i]);
                ynode_free(node);
                return st;
            }
        }
        f->key = node->value;
        f->key_line = node->line;
        node->value = NULL;
        ynode_free(node);
        return NN_OK;
    }
    ynode_push(f->node, node, f->key, f->key_line);
    f->key = NULL;
    return NN_OK;
}

static void builder_clear(Builder *b)
{
    for (int i = b->depth - 1; i >= 0; i--) {
        free(b->stack[i].key);
        ynode_free(b->stack[i].node);
    }
    b->depth = 0;
    ynode_free(b->root);
    b->root = NULL;
}

NnStatus ynode_parse(const char *text, size_t len, const char *name, YNode ***docs, int *n_docs,
                     NnError *err)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    Builder b = {.name = name};
    NnStatus st = NN_OK;
    int done = 0;

    *docs = NULL;
    *n_docs = 0;
    NN_CHECK(yaml_parser_initialize(&parser), "yaml_parser_initialize failed");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);

    while (!done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            st = nn_error_set(err, NN_ERR_INPUT, "%s:%zu: YAML syntax error: %s%s%s", name,
                              parser.problem_mark.line + 1,
                              parser.problem ? parser.problem : "unknown problem",
                              parser.context ? " " : "", parser.context ? parser.context : "");
            break;
        }
        int line = (int)ev.start_mark.line + 1;
        YNode *node = NULL;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT: done = 1; break;
        case YAML_DOCUMENT_END_EVENT:
            *docs = nn_realloc(*docs, (size_t)(*n_docs + 1) * sizeof **docs);
            (*docs)[(*n_docs)++] = b.root; /* NULL for an empty document */
            b.root = NULL;
            break;
        case YAML_ALIAS_EVENT:
            st = nn_error_set(err, NN_ERR_INPUT, "%s:%d: YAML aliases (*%s) are not supported",
                              name, line, (const char *)ev.data.alias.anchor);
            break;
        case YAML_SCALAR_EVENT:
            node = ynode_new(YNODE_SCALAR, line);
            node->value = nn_strdup((const char *)ev.data.scalar.value);
            node->quoted = ev.data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                           ev.data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE ||
                           ev.data.scalar.style == YAML_LITERAL_SCALAR_STYLE ||
                           ev.data.scalar.style == YAML_FOLDED_SCALAR_STYLE;
            st = builder_attach(&b, node, err);
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (b.depth == YT_MAX_DEPTH) {
                st = nn_error_set(err, NN_ERR_INPUT, "%s:%d: nesting deeper than %d levels", name,
                                  line, YT_MAX_DEPTH);
                break;
            }
            if (b.depth > 0 && b.stack[b.depth - 1].node->kind == YNODE_MAP &&
                !b.stack[b.depth - 1].key) {
                st = nn_error_set(err, NN_ERR_INPUT, "%s:%d: a mapping key must be a plain scalar",
                                  name, line);
                break;
            }
            b.stack[b.depth++] = (Frame){
                .node = ynode_new(ev.type == YAML_SEQUENCE_START_EVENT ? YNODE_SEQ : YNODE_MAP,
                                  line)};
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            node = b.stack[--b.depth].node;
            st = builder_attach(&b, node, err);
            break;
        default: break;
        }
        yaml_event_delete(&ev);
        if (st != NN_OK) break;
    }
    yaml_parser_delete(&parser);
    builder_clear(&b);
    if (st != NN_OK) {
        for (int i = 0; i < *n_docs; i++) ynode_free((*docs)[i]);
        free(*docs);
        *docs = NULL;
        *n_docs = 0;
    }
    return st;
}

NnStatus ynode_parse_file(const char *path, YNode ***docs, int *n_docs, NnError *err)
{
    NnBuf text = {0};
    NnStatus st = nn_buf_read_file(&text, path, err);
    if (st == NN_OK)
        st = ynode_parse(text.data ? text.data : "", text.len, path, docs, n_docs, err);
    nn_buf_free(&text);
    return st;
}

const YNode *ynode_get(const YNode *map, const char *key)
{
    if (!map || map->kind != YNODE_MAP) return NULL;
    for (int i = 0; i < map->n; i++)
        if (strcmp(map->keys[i], key) == 0) return map->items[i];
    return NULL;
}

static int plain_scalar(const YNode *n)
{
    return n && n->kind == YNODE_SCALAR && !n->quoted && n->value[0] != '\0';
}

int ynode_as_long(const YNode *n, long *out)
{
    if (!plain_scalar(n)) return 0;
    const char *s = n->value;
    const char *p = (*s == '-' || *s == '+') ? s + 1 : s;
    if (!*p) return 0;
    for (; *p; p++)
        if (*p < '0' || *p > '9') return 0;
    errno = 0;
    long v = strtol(s, NULL, 10);
    if (errno == ERANGE) return 0;
    *out = v;
    return 1;
}

int ynode_as_double(const YNode *n, double *out)
{
    if (!plain_scalar(n)) return 0;
    char *end;
    errno = 0;
    double v = strtod(n->value, &end);
    if (*end != '\0' || errno == ERANGE || !isfinite(v)) return 0;
    /* strtod also reads "inf", "nan" and hex floats: refuse words */
    for (const char *p = n->value; *p; p++)
        if ((*p >= 'a' && *p <= 'z' && *p != 'e') || (*p >= 'A' && *p <= 'Z' && *p != 'E'))
            return 0;
    *out = v;
    return 1;
}

int ynode_as_bool(const YNode *n, int *out)
{
    if (!plain_scalar(n)) return 0;
    static const char *yes[] = {"true", "yes", "on"}, *no[] = {"false", "no", "off"};
    for (int i = 0; i < 3; i++) {
        if (strcasecmp(n->value, yes[i]) == 0) {
            *out = 1;
            return 1;
        }
        if (strcasecmp(n->value, no[i]) == 0) {
            *out = 0;
            return 1;
        }
    }
    return 0;
}

const char *ynode_describe(const YNode *n, char *buf, size_t size)
{
    if (!n) return "nothing";
    switch (n->kind) {
    case YNODE_SEQ: return "a list";
    case YNODE_MAP: return "a mapping";
    default:
        if (n->value[0] == '\0') return "an empty value";
        snprintf(buf, size, "%s\"%.60s%s\"", n->quoted ? "string " : "", n->value,
                 strlen(n->value) > 60 ? "..." : "");
        return buf;
    }
}

static void json_string(NnBuf *out, const char *s)
{
    nn_buf_append(out, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char e[2] = {'\\', (char)*p};
            nn_buf_append(out, e, 2);
        } else if (*p < 0x20) {
            nn_buf_printf(out, "\\u%04x", *p);
        } else {
            nn_buf_append(out, (const char *)p, 1);
        }
    }
    nn_buf_append(out, "\"", 1);
}

void ynode_to_json(const YNode *n, NnBuf *out)
{
    if (!n) {
        nn_buf_append(out, "null", 4);
        return;
    }
    switch (n->kind) {
    case YNODE_SCALAR: {
        double d;
        int b;
        char num[40];
        if (ynode_as_double(n, &d)) {
            long l;
            if (ynode_as_long(n, &l))
                nn_buf_printf(out, "%ld", l);
            else {
                nn_format_double(num, sizeof num, d);
                nn_buf_append(out, num, strlen(num));
            }
        } else if (ynode_as_bool(n, &b)) {
            nn_buf_printf(out, "%s", b ? "true" : "false");
        } else if (!n->quoted && (strcmp(n->value, "null") == 0 || strcmp(n->value, "~") == 0)) {
            nn_buf_append(out, "null", 4);
        } else {
            json_string(out, n->value);
        }
        break;
    }
    case YNODE_SEQ:
        nn_buf_append(out, "[", 1);
        for (int i = 0; i < n->n; i++) {
            if (i) nn_buf_append(out, ",", 1);
            ynode_to_json(n->items[i], out);
        }
        nn_buf_append(out, "]", 1);
        break;
    case YNODE_MAP:
        nn_buf_append(out, "{", 1);
        for (int i = 0; i < n->n; i++) {
            if (i) nn_buf_append(out, ",", 1);
            json_string(out, n->keys[i]);
            nn_buf_append(out, ":", 1);
            ynode_to_json(n->items[i], out);
        }
        nn_buf_append(out, "}", 1);
        break;
    }
}
