/* program_args.c - a program run's values as W&B passes them (program.h):
 * canonical JSON as Python's json.dumps writes it, Python's str() and
 * repr() of values for the --name=value arguments, the command's macros,
 * and the GPUs a node can give programs. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nnsweep/program.h"

/* ---- scalars: which Python type PyYAML (and json.loads) would give ------- */

typedef enum PyKind { PY_INT, PY_FLOAT, PY_BOOL, PY_NONE, PY_STR } PyKind;

static PyKind scalar_kind(const YNode *v, long *l, double *d, int *b)
{
    if (!v->quoted && v->value[0] == '\0') return PY_NONE;
    if (ynode_as_long(v, l)) return PY_INT;
    if (ynode_as_double(v, d)) return PY_FLOAT;
    if (!v->quoted) {
        /* json.dumps writes these for non-finite floats */
        if (!strcmp(v->value, "NaN") || !strcmp(v->value, "nan") || !strcmp(v->value, ".nan")) {
            *d = NAN;
            return PY_FLOAT;
        }
        if (!strcmp(v->value, "Infinity") || !strcmp(v->value, "inf") || !strcmp(v->value, ".inf")) {
            *d = INFINITY;
            return PY_FLOAT;
        }
        if (!strcmp(v->value, "-Infinity") || !strcmp(v->value, "-inf") ||
            !strcmp(v->value, "-.inf")) {
            *d = -INFINITY;
            return PY_FLOAT;
        }
    }
    if (ynode_as_bool(v, b)) return PY_BOOL;
    if (!v->quoted && (!strcmp(v->value, "null") || !strcmp(v->value, "~") ||
                       !strcmp(v->value, "Null") || !strcmp(v->value, "NULL")))
        return PY_NONE;
    return PY_STR;
}

void program_py_float(double x, char *buf, size_t size)
{
    if (isnan(x)) {
        snprintf(buf, size, "nan");
        return;
    }
    if (isinf(x)) {
        snprintf(buf, size, x > 0 ? "inf" : "-inf");
        return;
    }
    /* the shortest mantissa that reads back as x */
    char e[40];
    int prec = 0;
    for (; prec < 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec, x);
        if (strtod(e, NULL) == x) break;
    }
    /* e is "-d.ddde[+-]XX": digits and the decimal exponent */
    char digits[24];
    int nd = 0, neg = e[0] == '-';
    const char *p = e + neg;
    for (; *p && *p != 'e'; p++)
        if (isdigit((unsigned char)*p)) digits[nd++] = *p;
    digits[nd] = '\0';
    int exp10 = atoi(p + 1); /* x = d.ddd * 10^exp10 */
    while (nd > 1 && digits[nd - 1] == '0') digits[--nd] = '\0';
    int decpt = exp10 + 1; /* Python's: x = 0.ddd * 10^decpt */
    NnBuf b = {0};
    if (neg) nn_buf_append(&b, "-", 1);
    if (decpt > -4 && decpt <= 16) { /* repr's fixed notation */
        if (decpt <= 0) {
            nn_buf_append(&b, "0.", 2);
            for (int i = 0; i < -decpt; i++) nn_buf_append(&b, "0", 1);
            nn_buf_append(&b, digits, (size_t)nd);
        } else if (decpt >= nd) {
            nn_buf_append(&b, digits, (size_t)nd);
            for (int i = nd; i < decpt; i++) nn_buf_append(&b, "0", 1);
            nn_buf_append(&b, ".0", 2);
        } else {
            nn_buf_append(&b, digits, (size_t)decpt);
            nn_buf_append(&b, ".", 1);
            nn_buf_append(&b, digits + decpt, (size_t)(nd - decpt));
        }
    } else {
        nn_buf_append(&b, digits, 1);
        if (nd > 1) {
            nn_buf_append(&b, ".", 1);
            nn_buf_append(&b, digits + 1, (size_t)(nd - 1));
        }
        nn_buf_printf(&b, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
    }
    snprintf(buf, size, "%s", b.data);
    nn_buf_free(&b);
}

/* The next UTF-8 code point of s (advancing *s); a byte that does not start
 * a valid sequence is taken as that byte's value (Latin-1). */
static unsigned long next_code_point(const unsigned char **s)
{
    const unsigned char *p = *s;
    unsigned long c = p[0];
    int n = c >= 0xF0 && c < 0xF8 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
    if (c < 0x80 || n == 0) {
        *s = p + 1;
        return c;
    }
    unsigned long cp = c & (0x3F >> n);
    for (int i = 1; i <= n; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            *s = p + 1;
            return c;
        }
        cp = cp << 6 | (p[i] & 0x3F);
    }
    *s = p + n + 1;
    return cp;
}

/* A JSON string as json.dumps writes it (ensure_ascii). */
static void json_str(const char *s, NnBuf *out)
{
    nn_buf_append(out, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        unsigned long c = next_code_point(&p);
        switch (c) {
        case '"': nn_buf_append(out, "\\\"", 2); break;
        case '\\': nn_buf_append(out, "\\\\", 2); break;
        case '\n': nn_buf_append(out, "\\n", 2); break;
        case '\r': nn_buf_append(out, "\\r", 2); break;
        case '\t': nn_buf_append(out, "\\t", 2); break;
        case '\b': nn_buf_append(out, "\\b", 2); break;
        case '\f': nn_buf_append(out, "\\f", 2); break;
        default:
            if (c >= 0x20 && c < 0x7F) {
                char ch = (char)c;
                nn_buf_append(out, &ch, 1);
            } else if (c > 0xFFFF) { /* a surrogate pair */
                c -= 0x10000;
                nn_buf_printf(out, "\\u%04lx\\u%04lx", 0xD800 + (c >> 10), 0xDC00 + (c & 0x3FF));
            } else {
                nn_buf_printf(out, "\\u%04lx", c);
            }
        }
    }
    nn_buf_append(out, "\"", 1);
}

void program_value_json(const YNode *v, NnBuf *out)
{
    if (!v) {
        nn_buf_append(out, "null", 4);
        return;
    }
    long l;
    double d;
    int b;
    char num[40];
    switch (v->kind) {
    case YNODE_SCALAR:
        switch (scalar_kind(v, &l, &d, &b)) {
        case PY_INT: nn_buf_printf(out, "%ld", l); break;
        case PY_FLOAT:
            /* json.dumps: NaN, Infinity, -Infinity; else repr */
            if (isnan(d)) snprintf(num, sizeof num, "NaN");
            else if (isinf(d)) snprintf(num, sizeof num, d > 0 ? "Infinity" : "-Infinity");
            else program_py_float(d, num, sizeof num);
            nn_buf_append(out, num, strlen(num));
            break;
        case PY_BOOL: nn_buf_printf(out, "%s", b ? "true" : "false"); break;
        case PY_NONE: nn_buf_append(out, "null", 4); break;
        case PY_STR: json_str(v->value, out); break;
        }
        break;
    case YNODE_SEQ:
        nn_buf_append(out, "[", 1);
        for (int i = 0; i < v->n; i++) {
            if (i) nn_buf_append(out, ", ", 2);
            program_value_json(v->items[i], out);
        }
        nn_buf_append(out, "]", 1);
        break;
    case YNODE_MAP:
        nn_buf_append(out, "{", 1);
        for (int i = 0; i < v->n; i++) {
            if (i) nn_buf_append(out, ", ", 2);
            json_str(v->keys[i], out);
            nn_buf_append(out, ": ", 2);
            program_value_json(v->items[i], out);
        }
        nn_buf_append(out, "}", 1);
        break;
    }
}

/* ---- Python's str() and repr() ------------------------------------------- */

/* repr(s) of a Python str: single quotes unless s holds ' and no ". */
static void py_repr_str(const char *s, NnBuf *out)
{
    char q = (strchr(s, '\'') && !strchr(s, '"')) ? '"' : '\'';
    nn_buf_append(out, &q, 1);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        const unsigned char *start = p;
        unsigned long c = next_code_point(&p);
        if (c == (unsigned long)q || c == '\\') {
            char esc[2] = {'\\', (char)c};
            nn_buf_append(out, esc, 2);
        } else if (c == '\n') nn_buf_append(out, "\\n", 2);
        else if (c == '\r') nn_buf_append(out, "\\r", 2);
        else if (c == '\t') nn_buf_append(out, "\\t", 2);
        else if (c < 0x20 || (c >= 0x7F && c < 0xA0)) nn_buf_printf(out, "\\x%02lx", c);
        else nn_buf_append(out, (const char *)start, (size_t)(p - start));
    }
    nn_buf_append(out, &q, 1);
}

static void py_value(const YNode *v, int repr, NnBuf *out)
{
    long l;
    double d;
    int b;
    char num[40];
    switch (v->kind) {
    case YNODE_SCALAR:
        switch (scalar_kind(v, &l, &d, &b)) {
        case PY_INT: nn_buf_printf(out, "%ld", l); break;
        case PY_FLOAT:
            program_py_float(d, num, sizeof num);
            nn_buf_append(out, num, strlen(num));
            break;
        case PY_BOOL: nn_buf_printf(out, "%s", b ? "True" : "False"); break;
        case PY_NONE: nn_buf_append(out, "None", 4); break;
        case PY_STR:
            if (repr) py_repr_str(v->value, out);
            else nn_buf_append(out, v->value, strlen(v->value));
            break;
        }
        break;
    case YNODE_SEQ:
        nn_buf_append(out, "[", 1);
        for (int i = 0; i < v->n; i++) {
            if (i) nn_buf_append(out, ", ", 2);
            py_value(v->items[i], 1, out);
        }
        nn_buf_append(out, "]", 1);
        break;
    case YNODE_MAP:
        nn_buf_append(out, "{", 1);
        for (int i = 0; i < v->n; i++) {
            if (i) nn_buf_append(out, ", ", 2);
            py_repr_str(v->keys[i], out);
            nn_buf_append(out, ": ", 2);
            py_value(v->items[i], 1, out);
        }
        nn_buf_append(out, "}", 1);
        break;
    }
}

/* ---- the command ----------------------------------------------------------- */

static const char *const default_command[] = {"${env}", "${interpreter}", "${program}", "${args}"};
static const char *const macros[] = {"${env}", "${interpreter}", "${program}", "${args}",
                                     "${args_no_hyphens}", "${args_no_boolean_flags}",
                                     "${args_no_equals}", "${args_json}", "${args_json_file}",
                                     NULL};

static int is_macro(const char *s)
{
    for (int i = 0; macros[i]; i++)
        if (!strcmp(s, macros[i])) return 1;
    return 0;
}

/* The element as written: from the spec, or W&B's default command. */
static const char *command_elem(const ProgramSpec *p, int i);
static int command_len(const ProgramSpec *p);

/* The element that names what is executed: the first, or the one after
 * ${env}. */
static int executable_index(const ProgramSpec *p)
{
    return command_len(p) > 1 && !strcmp(command_elem(p, 0), "${env}") ? 1 : 0;
}

/* The element as written: from the spec, or W&B's default command. */
static const char *command_elem(const ProgramSpec *p, int i)
{
    return p->n_command ? p->command[i] : default_command[i];
}

static int command_len(const ProgramSpec *p)
{
    return p->n_command ? p->n_command : (int)(sizeof default_command / sizeof *default_command);
}

int program_uses_json_file(const ProgramSpec *p)
{
    for (int i = 0; i < command_len(p); i++)
        if (!strcmp(command_elem(p, i), "${args_json_file}")) return 1;
    return 0;
}

/* NN_ERR_INPUT naming element i when it looks like a macro that is none
 * ("${...}" as a whole element, other than ${envvar:NAME}). */
static NnStatus check_element(const ProgramSpec *p, int i, const char *where, NnError *err)
{
    const char *s = command_elem(p, i);
    size_t n = strlen(s);
    if (n < 3 || strncmp(s, "${", 2) != 0 || s[n - 1] != '}' || is_macro(s)) return NN_OK;
    if (strncmp(s, "${envvar:", 9) == 0 && !strchr(s + 9, '}')[1]) return NN_OK;
    return nn_error_set(err, NN_ERR_INPUT,
                        "%s: command[%d]: unknown macro %s (expected ${env}, ${interpreter}, "
                        "${program}, ${args}, ${args_no_hyphens}, ${args_no_boolean_flags}, "
                        "${args_no_equals}, ${args_json}, ${args_json_file} or ${envvar:NAME})",
                        where, i, s);
}

/* s with every ${envvar:NAME} replaced by $NAME (NAME when unset). */
static char *expand_envvars(const char *s)
{
    NnBuf b = {0};
    nn_buf_append(&b, "", 0);
    for (const char *p = s; *p;) {
        const char *m = strstr(p, "${envvar:");
        const char *end = m ? strchr(m + 9, '}') : NULL;
        if (!m || !end) {
            nn_buf_append(&b, p, strlen(p));
            break;
        }
        nn_buf_append(&b, p, (size_t)(m - p));
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(end - m - 9), m + 9);
        const char *v = getenv(name);
        nn_buf_append(&b, v ? v : name, strlen(v ? v : name));
        p = end + 1;
    }
    return b.data;
}

typedef struct Argv {
    char **v;
    int n, cap;
} Argv;

static void argv_push(Argv *a, char *s) /* takes s */
{
    if (a->n + 2 > a->cap) {
        a->cap = a->cap ? 2 * a->cap : 16;
        a->v = nn_realloc(a->v, (size_t)a->cap * sizeof *a->v);
    }
    a->v[a->n++] = s;
    a->v[a->n] = NULL;
}

/* The parameters' arguments of one format: 0 --name=value, 1 name=value,
 * 2 --name=value with booleans as flags, 3 --name and value as two. */
static void push_args(Argv *a, const YNode *config, int format)
{
    for (int i = 0; i < config->n; i++) {
        const YNode *v = config->items[i];
        long l;
        double d;
        int b = 0;
        NnBuf arg = {0};
        if (format == 2 && v->kind == YNODE_SCALAR && scalar_kind(v, &l, &d, &b) == PY_BOOL) {
            if (!b) continue;
            nn_buf_printf(&arg, "--%s", config->keys[i]);
        } else if (format == 3) {
            nn_buf_printf(&arg, "--%s", config->keys[i]);
            argv_push(a, arg.data);
            arg = (NnBuf){0};
            nn_buf_append(&arg, "", 0);
            py_value(v, 0, &arg);
        } else {
            nn_buf_printf(&arg, "%s%s=", format == 1 ? "" : "--", config->keys[i]);
            py_value(v, 0, &arg);
        }
        argv_push(a, arg.data);
    }
}

NnStatus program_argv(const ProgramSpec *p, const YNode *config, const char *args_json_file,
                      char ***argv, int *argc, NnError *err)
{
    NN_CHECK(config && config->kind == YNODE_MAP, "program_argv: the config is not a mapping");
    Argv a = {0};
    argv_push(&a, NULL), a.n = 0; /* an empty, NULL-terminated list */
    int exe = executable_index(p);
    for (int i = 0; i < command_len(p); i++) {
        const char *s = command_elem(p, i);
        NnStatus st = check_element(p, i, "the sweep's command", err);
        if (st != NN_OK) {
            program_argv_free(a.v);
            return st;
        }
        if (!strcmp(s, "${env}")) argv_push(&a, nn_strdup("/usr/bin/env"));
        else if (!strcmp(s, "${interpreter}")) argv_push(&a, nn_strdup("python3"));
        else if (!strcmp(s, "${program}") && i == exe && !strchr(p->program, '/')) {
            NnBuf b = {0}; /* run from the working directory, not looked up on PATH */
            nn_buf_printf(&b, "./%s", p->program);
            argv_push(&a, b.data);
        } else if (!strcmp(s, "${program}")) argv_push(&a, nn_strdup(p->program));
        else if (!strcmp(s, "${args}")) push_args(&a, config, 0);
        else if (!strcmp(s, "${args_no_hyphens}")) push_args(&a, config, 1);
        else if (!strcmp(s, "${args_no_boolean_flags}")) push_args(&a, config, 2);
        else if (!strcmp(s, "${args_no_equals}")) push_args(&a, config, 3);
        else if (!strcmp(s, "${args_json}")) {
            NnBuf j = {0};
            program_value_json(config, &j);
            argv_push(&a, j.data);
        } else if (!strcmp(s, "${args_json_file}"))
            argv_push(&a, nn_strdup(args_json_file ? args_json_file : ""));
        else argv_push(&a, expand_envvars(s));
    }
    *argv = a.v;
    *argc = a.n;
    return NN_OK;
}

void program_argv_free(char **argv)
{
    if (!argv) return;
    for (char **p = argv; *p; p++) free(*p);
    free(argv);
}

/* ---- checks before any run ------------------------------------------------- */

/* The executable that a command runs: its first element, or the one after
 * /usr/bin/env (W&B's ${env}) - already expanded. */
static NnStatus find_executable(const char *name, const char *dir, char *found, size_t size)
{
    if (strchr(name, '/')) {
        if (name[0] == '/') snprintf(found, size, "%s", name);
        else snprintf(found, size, "%s/%s", dir, name);
        return access(found, X_OK) == 0 ? NN_OK : NN_ERR_INPUT;
    }
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path; *p;) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        snprintf(found, size, "%.*s/%s", (int)n, n ? p : ".", name);
        struct stat stt;
        if (stat(found, &stt) == 0 && S_ISREG(stt.st_mode) && access(found, X_OK) == 0)
            return NN_OK;
        p += n + (colon != NULL);
        if (!colon) break;
    }
    return NN_ERR_INPUT;
}

void program_spec_free(ProgramSpec *p)
{
    if (!p) return;
    free(p->program);
    free(p->dir);
    for (int i = 0; i < p->n_command; i++) free(p->command[i]);
    free(p->command);
    memset(p, 0, sizeof *p);
}

NnStatus program_check(const ProgramSpec *p, const char *file, NnError *err)
{
    char where[512];
    int line = p->command_line ? p->command_line : p->line;
    snprintf(where, sizeof where, "%s:%d", file, line);
    int uses_program = 0;
    for (int i = 0; i < command_len(p); i++) {
        NnStatus st = check_element(p, i, where, err);
        if (st != NN_OK) return st;
        uses_program |= !strcmp(command_elem(p, i), "${program}");
    }
    char path[4096];
    if (uses_program) {
        if (!p->program || !*p->program)
            return nn_error_set(err, NN_ERR_INPUT,
                                "%s: command: uses ${program} but the sweep has no program key",
                                where);
        if (p->program[0] == '/') snprintf(path, sizeof path, "%s", p->program);
        else snprintf(path, sizeof path, "%s/%s", p->dir, p->program);
        struct stat stt;
        int rc = stat(path, &stt), e = errno;
        if (rc != 0 || !S_ISREG(stt.st_mode))
            return nn_error_set(err, NN_ERR_INPUT,
                                "%s:%d: program: %s: %s (a relative program is looked for in the "
                                "sweep file's directory, which is also the program's working "
                                "directory)",
                                file, p->line, path, rc ? strerror(e) : "not a regular file");
    }
    if (command_len(p) == 0)
        return nn_error_set(err, NN_ERR_INPUT, "%s: command: expected a non-empty list", where);
    int first = executable_index(p);
    const char *exe = command_elem(p, first);
    char *name = NULL;
    if (!strcmp(exe, "${interpreter}")) {
        name = nn_strdup("python3");
    } else if (!strcmp(exe, "${program}")) { /* a path (argv gets ./ before a bare name) */
        NnBuf b = {0};
        nn_buf_printf(&b, "%s%s", strchr(p->program, '/') ? "" : "./", p->program);
        name = b.data;
    } else if (is_macro(exe)) {
        return nn_error_set(err, NN_ERR_INPUT,
                            "%s: command[%d]: %s cannot be the program to run (expected an "
                            "executable, ${interpreter} or ${program})", where, first, exe);
    } else {
        name = expand_envvars(exe);
    }
    NnStatus st = NN_OK;
    if (!*name || find_executable(name, p->dir, path, sizeof path) != NN_OK) {
        int here = !strcmp(exe, "${program}");
        st = nn_error_set(err, NN_ERR_INPUT,
                          "%s:%d: %s: %s is %s (%s)", file, here ? p->line : line,
                          here ? "program" : "command", name,
                          strchr(name, '/') || here ? "not executable or not found"
                                                    : "not found on PATH",
                          here ? "make it executable (chmod +x) or run it through an "
                                 "interpreter: command: [${env}, ${interpreter}, ${program}, "
                                 "${args}]"
                               : "install it, or give its path");
    }
    free(name);
    return st;
}

/* ---- where runs' files go -------------------------------------------------------- */

char *program_run_dirs(const char *out_path)
{
    char real[PATH_MAX], dir[PATH_MAX];
    NnBuf b = {0};
    if (!out_path) {
        if (!getcwd(dir, sizeof dir)) snprintf(dir, sizeof dir, ".");
        nn_buf_printf(&b, "%s/nnsweep.runs", dir);
        return b.data;
    }
    if (realpath(out_path, real)) { /* beside the real file, as its side files */
        nn_buf_printf(&b, "%s.runs", real);
        return b.data;
    }
    const char *slash = strrchr(out_path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == out_path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - out_path), out_path);
    if (!realpath(dir, real)) snprintf(real, sizeof real, "%s", dir);
    nn_buf_printf(&b, "%s%s%s.runs", real, strcmp(real, "/") ? "/" : "",
                  slash ? slash + 1 : out_path);
    return b.data;
}

/* ---- GPUs ---------------------------------------------------------------------- */

int program_gpu_count(void)
{
    const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
    if (cvd) {
        int n = 0;
        for (const char *p = cvd; *p;) {
            const char *c = strchr(p, ',');
            size_t len = c ? (size_t)(c - p) : strlen(p);
            /* CUDA stops at the first invalid entry (-1, say) */
            if (len == 0 || p[0] == '-') break;
            n++;
            if (!c) break;
            p = c + 1;
        }
        return n;
    }
    DIR *d = opendir("/proc/driver/nvidia/gpus");
    if (!d) return 0;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

void program_gpu_label(int i, char *out, size_t size)
{
    const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
    snprintf(out, size, "%d", i);
    if (!cvd) return;
    for (const char *p = cvd; *p && i >= 0; i--) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (i == 0) {
            snprintf(out, size, "%.*s", (int)len, p);
            return;
        }
        if (!c) break;
        p = c + 1;
    }
}
