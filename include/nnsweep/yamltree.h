/* yamltree.h - YAML (and therefore JSON) documents as small trees with line
 * numbers, built with libyaml.
 *
 * Run config files, sweep files and the canonical config JSON that rank 0
 * sends to workers are all read through this module, so that every error
 * can name file:line and the key path. Anchors and aliases are refused
 * (W&B sweep files do not use them); tags are ignored.
 */
#ifndef NNSWEEP_YAMLTREE_H
#define NNSWEEP_YAMLTREE_H

#include "nnsweep/core.h"

typedef enum YNodeKind { YNODE_SCALAR, YNODE_SEQ, YNODE_MAP } YNodeKind;

typedef struct YNode {
    YNodeKind kind;
    int line;     /* 1-based line of the node's start in its file */
    char *value;  /* scalar text (YNODE_SCALAR), owned */
    int quoted;   /* scalar was quoted: a string, never a number or bool */
    int n;        /* number of items (seq) or pairs (map) */
    struct YNode **items; /* (n) seq items or map values, owned */
    char **keys;          /* (n) map keys, owned; NULL for seq */
    int *key_lines;       /* (n) line of each map key */
} YNode;

/* Parses every document of a YAML stream. *docs (n_docs entries) is owned
 * by the caller: free each with ynode_free and the array with free().
 * `name` is used in error messages ("name:line: ..."). On a syntax error
 * returns NN_ERR_INPUT with "name:line: <libyaml's problem>". */
NnStatus ynode_parse(const char *text, size_t len, const char *name, YNode ***docs, int *n_docs,
                     NnError *err);
/* Reads the file and parses it; an unreadable file is NN_ERR_INPUT. */
NnStatus ynode_parse_file(const char *path, YNode ***docs, int *n_docs, NnError *err);
void ynode_free(YNode *n); /* accepts NULL */

/* Value of key in a map node, or NULL (also when map is not a map). */
const YNode *ynode_get(const YNode *map, const char *key);

/* Scalar conversions: return 1 and set *out when the node is an unquoted
 * scalar of that type, else 0. Integers accept decimal digits with an
 * optional sign only; doubles accept what strtod accepts in full (and .inf
 * /.nan are refused); booleans are true/false (any case), yes/no, on/off. */
int ynode_as_long(const YNode *n, long *out);
int ynode_as_double(const YNode *n, double *out);
int ynode_as_bool(const YNode *n, int *out);
/* A short description of a node for "found ..." in messages: the scalar in
 * quotes, "a list", "a mapping". Static or node storage. */
const char *ynode_describe(const YNode *n, char *buf, size_t size);

/* Writes a node back as JSON (flow style, keys in document order). */
void ynode_to_json(const YNode *n, NnBuf *out);

#endif
