/* program_channel.c - the reading end of a program's channel: lines of
 * JSON into rows (program.h describes the wire format). Each line is read
 * with the YAML parser of yamltree.h (JSON is YAML's flow style), after a
 * check that it is one {...} object. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "program_internal.h"

void channel_init(Channel *ch, const char *cwd)
{
    memset(ch, 0, sizeof *ch);
    ch->cwd = cwd;
    ch->last_step = -1;
}

void channel_free(Channel *ch)
{
    if (!ch) return;
    nn_buf_free(&ch->line);
    nn_buf_free(&ch->names);
    free(ch->rows);
    free(ch->name_off);
    free(ch->values);
    free(ch->name_ptr);
    free(ch->row_first);
    nn_buf_free(&ch->summary_names);
    free(ch->summary_values);
    nn_buf_free(&ch->artifacts);
    memset(ch, 0, sizeof *ch);
}

/* "line N: <what>: <the line, cut>" */
static NnStatus garbage(const Channel *ch, const char *line, size_t len, NnError *err,
                        const char *what)
{
    char shown[160];
    size_t n = len < 120 ? len : 120;
    size_t j = 0;
    for (size_t i = 0; i < n && j + 4 < sizeof shown; i++) {
        unsigned char c = (unsigned char)line[i];
        shown[j++] = (c < 0x20 || c == 0x7F) ? '?' : (char)c;
    }
    shown[j] = '\0';
    return nn_error_set(err, NN_ERR_INPUT, "line %ld: %s: %s%s", ch->line_no + 1,
                        what, shown, len > n ? "..." : "");
}

/* A number of a row: numbers, true/false, NaN and (-)Infinity. */
static int row_value(const YNode *v, double *out)
{
    int b;
    if (!v || v->kind != YNODE_SCALAR || v->quoted) return 0;
    if (ynode_as_double(v, out)) return 1;
    if (ynode_as_bool(v, &b) && (!strcasecmp(v->value, "true") || !strcasecmp(v->value, "false"))) {
        *out = b;
        return 1;
    }
    static const struct { const char *name; double v; } words[] = {
        {"NaN", NAN}, {"nan", NAN}, {"Infinity", INFINITY}, {"inf", INFINITY},
        {"-Infinity", -INFINITY}, {"-inf", -INFINITY}};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (!strcmp(v->value, words[i].name)) {
            *out = words[i].v;
            return 1;
        }
    return 0;
}

/* 1 when s is valid UTF-8 (no overlong forms, surrogates or code points
 * past U+10FFFF) without control characters. */
static int utf8_text(const unsigned char *s)
{
    while (*s) {
        unsigned c = *s;
        int n = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2
              : (c & 0xF8) == 0xF0 ? 3 : -1;
        if (n < 0 || (n == 0 && (c < 0x20 || c == 0x7F))) return 0;
        unsigned long cp = n ? c & (0x3Fu >> n) : c;
        for (int i = 1; i <= n; i++) {
            if ((s[i] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[i] & 0x3F);
        }
        static const unsigned long min_cp[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) ||
            (cp >= 0x80 && cp < 0xA0))
            return 0;
        s += n + 1;
    }
    return 1;
}

static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > RUN_METRIC_NAME_MAX || !strcmp(s, "step")) return 0;
    return utf8_text((const unsigned char *)s);
}

/* Adds a row of the mapping m at step. */
static NnStatus add_row(Channel *ch, const YNode *m, int64_t step, const char *what,
                        const char *line, size_t len, NnError *err)
{
    char msg[256];
    if (!m || m->kind != YNODE_MAP || m->n == 0) {
        snprintf(msg, sizeof msg, "%s: expected a non-empty object of named numbers", what);
        return garbage(ch, line, len, err, msg);
    }
    if (m->n > PROGRAM_MAX_METRICS) {
        snprintf(msg, sizeof msg, "%s: %d names, more than %d", what, m->n, PROGRAM_MAX_METRICS);
        return garbage(ch, line, len, err, msg);
    }
    for (int i = 0; i < m->n; i++) {
        double v;
        if (!name_ok(m->keys[i])) {
            snprintf(msg, sizeof msg, "%s: a name must be 1 to %d bytes of UTF-8 without "
                     "control characters and not \"step\", found \"%.80s\"", what,
                     RUN_METRIC_NAME_MAX, m->keys[i]);
            return garbage(ch, line, len, err, msg);
        }
        if (!row_value(m->items[i], &v)) {
            char found[96];
            snprintf(msg, sizeof msg, "%s.%.80s: expected a number, found %s", what, m->keys[i],
                     ynode_describe(m->items[i], found, sizeof found));
            return garbage(ch, line, len, err, msg);
        }
    }
    if (ch->n_rows == ch->cap_rows) {
        ch->cap_rows = ch->cap_rows ? 2 * ch->cap_rows : 16;
        ch->rows = nn_realloc(ch->rows, (size_t)ch->cap_rows * sizeof *ch->rows);
        ch->row_first = nn_realloc(ch->row_first, (size_t)ch->cap_rows * sizeof *ch->row_first);
    }
    if (ch->n_vals + m->n > ch->cap_vals) {
        while (ch->n_vals + m->n > ch->cap_vals) ch->cap_vals = ch->cap_vals ? 2 * ch->cap_vals : 64;
        ch->name_off = nn_realloc(ch->name_off, (size_t)ch->cap_vals * sizeof *ch->name_off);
        ch->values = nn_realloc(ch->values, (size_t)ch->cap_vals * sizeof *ch->values);
        ch->name_ptr = nn_realloc(ch->name_ptr, (size_t)ch->cap_vals * sizeof *ch->name_ptr);
    }
    ch->rows[ch->n_rows] = (RunRow){.step = step, .n = m->n};
    ch->row_first[ch->n_rows++] = ch->n_vals;
    for (int i = 0; i < m->n; i++) {
        row_value(m->items[i], &ch->values[ch->n_vals]);
        ch->name_off[ch->n_vals++] = ch->names.len;
        nn_buf_append(&ch->names, m->keys[i], strlen(m->keys[i]) + 1);
    }
    return NN_OK;
}

/* Appends a JSON value of a double: Python's json (NaN, Infinity). */
static void json_number(NnBuf *out, double v)
{
    char num[40];
    if (isnan(v)) snprintf(num, sizeof num, "NaN");
    else if (isinf(v)) snprintf(num, sizeof num, v > 0 ? "Infinity" : "-Infinity");
    else program_py_float(v, num, sizeof num);
    nn_buf_append(out, num, strlen(num));
}

static void json_text(NnBuf *out, const char *s)
{
    YNode v = {.kind = YNODE_SCALAR, .quoted = 1, .value = (char *)s};
    program_value_json(&v, out);
}

/* {"summary": {...}}: each name's value replaces an earlier one. */
static NnStatus add_summary(Channel *ch, const YNode *m, const char *line, size_t len,
                            NnError *err)
{
    char msg[256];
    if (!m || m->kind != YNODE_MAP || m->n == 0)
        return garbage(ch, line, len, err, "summary: expected a non-empty object of named numbers");
    for (int i = 0; i < m->n; i++) {
        double v;
        char found[96];
        if (!name_ok(m->keys[i])) {
            snprintf(msg, sizeof msg, "summary: a name must be 1 to %d bytes of UTF-8 without "
                     "control characters and not \"step\", found \"%.80s\"",
                     RUN_METRIC_NAME_MAX, m->keys[i]);
            return garbage(ch, line, len, err, msg);
        }
        if (!row_value(m->items[i], &v)) {
            snprintf(msg, sizeof msg, "summary.%.80s: expected a number, found %s", m->keys[i],
                     ynode_describe(m->items[i], found, sizeof found));
            return garbage(ch, line, len, err, msg);
        }
    }
    for (int i = 0; i < m->n; i++) {
        double v;
        row_value(m->items[i], &v);
        int k = 0;
        const char *p = ch->summary_names.data;
        for (; k < ch->n_summary && strcmp(p, m->keys[i]); k++) p += strlen(p) + 1;
        if (k == ch->n_summary) {
            nn_buf_append(&ch->summary_names, m->keys[i], strlen(m->keys[i]) + 1);
            ch->summary_values = nn_realloc(ch->summary_values,
                                            (size_t)(ch->n_summary + 1) * sizeof(double));
            ch->n_summary++;
        }
        ch->summary_values[k] = v;
    }
    return NN_OK;
}

/* {"artifact": PATH, "name": NAME}: listed with its absolute path. */
static NnStatus add_artifact(Channel *ch, const YNode *path, const YNode *name, const char *line,
                             size_t len, NnError *err)
{
    if (!path || path->kind != YNODE_SCALAR || !path->value[0])
        return garbage(ch, line, len, err, "artifact: expected a file's path (a string)");
    if (name && (name->kind != YNODE_SCALAR || !name->value[0]))
        return garbage(ch, line, len, err, "name: expected a non-empty string");
    const char *p = path->value, *base = strrchr(p, '/');
    NnBuf abs = {0};
    nn_buf_printf(&abs, "%s%s%s", p[0] == '/' ? "" : ch->cwd, p[0] == '/' ? "" : "/", p);
    if (ch->artifacts.len) nn_buf_append(&ch->artifacts, ", ", 2);
    nn_buf_printf(&ch->artifacts, "%s", "{\"name\": ");
    json_text(&ch->artifacts, name ? name->value : base ? base + 1 : p);
    nn_buf_printf(&ch->artifacts, "%s", ", \"path\": ");
    json_text(&ch->artifacts, abs.data);
    nn_buf_append(&ch->artifacts, "}", 1);
    nn_buf_free(&abs);
    return NN_OK;
}

char *channel_outputs(const Channel *ch)
{
    if (!ch->n_summary && !ch->artifacts.len) return NULL;
    NnBuf out = {0};
    nn_buf_printf(&out, "%s", "{\"summary\": {");
    const char *p = ch->summary_names.data;
    for (int k = 0; k < ch->n_summary; k++, p += strlen(p) + 1) {
        if (k) nn_buf_append(&out, ", ", 2);
        json_text(&out, p);
        nn_buf_append(&out, ": ", 2);
        json_number(&out, ch->summary_values[k]);
    }
    nn_buf_printf(&out, "%s", "}, \"artifacts\": [");
    if (ch->artifacts.len) nn_buf_append(&out, ch->artifacts.data, ch->artifacts.len);
    nn_buf_append(&out, "]}", 2);
    return out.data;
}

/* One complete line (without its '\n'). */
static NnStatus parse_line(Channel *ch, const char *line, size_t len, NnError *err)
{
    while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t')) len--;
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
    if (i == len) return NN_OK; /* a blank line */
    if (line[i] != '{' || line[len - 1] != '}')
        return garbage(ch, line, len, err, "expected one JSON object {...}");
    YNode **docs = NULL;
    int n_docs = 0;
    NnError perr;
    NnStatus st = ynode_parse(line, len, "channel", &docs, &n_docs, &perr);
    if (st != NN_OK || n_docs != 1 || !docs[0] || docs[0]->kind != YNODE_MAP) {
        const char *why = st != NN_OK ? strchr(perr.msg, ' ') : NULL;
        char what[300];
        snprintf(what, sizeof what, "not one JSON object (%s)", why ? why + 1 : "");
        st = garbage(ch, line, len, err, what);
        goto done;
    }
    const YNode *m = docs[0];
    const YNode *log = ynode_get(m, "log"), *summary = ynode_get(m, "summary"),
                *artifact = ynode_get(m, "artifact"), *step = ynode_get(m, "step"),
                *name = ynode_get(m, "name");
    for (int k = 0; k < m->n; k++) {
        const char *key = m->keys[k];
        if (strcmp(key, "log") && strcmp(key, "summary") && strcmp(key, "artifact") &&
            strcmp(key, "step") && strcmp(key, "name")) {
            char what[160];
            snprintf(what, sizeof what, "unknown key \"%.60s\" (expected log, summary or artifact)",
                     key);
            st = garbage(ch, line, len, err, what);
            goto done;
        }
    }
    if ((log != NULL) + (summary != NULL) + (artifact != NULL) != 1 || (step && !log) ||
        (name && !artifact)) {
        st = garbage(ch, line, len, err,
                     "expected one of {\"log\": {...}, \"step\": N}, {\"summary\": {...}} or "
                     "{\"artifact\": PATH, \"name\": NAME}");
        goto done;
    }
    if (artifact) {
        st = add_artifact(ch, artifact, name, line, len, err);
    } else if (summary) {
        st = add_summary(ch, summary, line, len, err);
    } else {
        long s = (long)(ch->last_step + 1);
        if (step && (!ynode_as_long(step, &s) || s < 0)) {
            char found[96], what[160];
            snprintf(what, sizeof what, "step: expected an integer >= 0, found %s",
                     ynode_describe(step, found, sizeof found));
            st = garbage(ch, line, len, err, what);
            goto done;
        }
        if ((int64_t)s <= ch->last_step) {
            char what[160];
            snprintf(what, sizeof what, "step %ld: steps must grow, the previous row's was %lld", s,
                     (long long)ch->last_step);
            st = garbage(ch, line, len, err, what);
            goto done;
        }
        st = add_row(ch, log, s, "log", line, len, err);
        if (st == NN_OK) ch->last_step = s;
    }
done:
    for (int d = 0; d < n_docs; d++) ynode_free(docs[d]);
    free(docs);
    return st;
}

NnStatus channel_feed(Channel *ch, const char *data, size_t n, NnError *err)
{
    ch->n_rows = ch->n_vals = 0;
    ch->names.len = 0;
    while (n > 0) {
        const char *nl = memchr(data, '\n', n);
        size_t take = nl ? (size_t)(nl - data) : n;
        if (ch->line.len + take > PROGRAM_LINE_MAX) {
            char what[96];
            snprintf(what, sizeof what, "a line longer than %d bytes", PROGRAM_LINE_MAX);
            return garbage(ch, ch->line.data ? ch->line.data : data,
                           ch->line.data ? ch->line.len : take, err, what);
        }
        if (!nl) { /* the rest of an unfinished line */
            nn_buf_append(&ch->line, data, n);
            break;
        }
        NnStatus st;
        if (ch->line.len) {
            nn_buf_append(&ch->line, data, take);
            st = parse_line(ch, ch->line.data, ch->line.len, err);
            ch->line.len = 0;
        } else {
            st = parse_line(ch, data, take, err);
        }
        if (st != NN_OK) return st;
        ch->line_no++;
        data += take + 1;
        n -= take + 1;
    }
    return NN_OK;
}

NnStatus channel_finish(Channel *ch, NnError *err)
{
    ch->n_rows = ch->n_vals = 0;
    ch->names.len = 0;
    if (!ch->line.len) return NN_OK;
    NnStatus st = parse_line(ch, ch->line.data, ch->line.len, err);
    ch->line.len = 0;
    if (st == NN_OK) ch->line_no++;
    return st;
}

const RunRow *channel_rows(Channel *ch, int *n)
{
    for (int i = 0; i < ch->n_vals; i++) ch->name_ptr[i] = ch->names.data + ch->name_off[i];
    for (int r = 0; r < ch->n_rows; r++) {
        ch->rows[r].names = ch->name_ptr + ch->row_first[r];
        ch->rows[r].values = ch->values + ch->row_first[r];
    }
    *n = ch->n_rows;
    return ch->rows;
}
