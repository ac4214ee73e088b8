/* options.c - the option tables' parser and usage (cli.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

#define USAGE_WIDTH 79 /* columns of the usage text */
#define USAGE_MAX_COLUMN 32

static const CliOption *option_at(const CliCommand *cmd, int i)
{
    return i < cmd->n_opts ? &cmd->opts[i] : &cmd->more[i - cmd->n_opts];
}

/* name (the table's) equals typed[0..len), '-' and '_' alike */
static int name_is(const char *name, const char *typed, size_t len)
{
    if (strlen(name) != len) return 0;
    for (size_t i = 0; i < len; i++) {
        char a = name[i] == '_' ? '-' : name[i], b = typed[i] == '_' ? '-' : typed[i];
        if (a != b) return 0;
    }
    return 1;
}

static int is_bool_word(const char *s)
{
    static const char *const words[] = {"true", "false", "yes", "no", "on", "off"};
    for (int i = 0; i < 6; i++)
        if (strcasecmp(s, words[i]) == 0) return 1;
    return 0;
}

static int is_help(const char *a) { return !strcmp(a, "--help") || !strcmp(a, "-h"); }

/* "an integer in 1..1024", "a number in [0, 1e+06]" */
static void describe_range(const CliOption *o, char *buf, size_t size)
{
    if (o->kind == CLI_INT) {
        snprintf(buf, size, "an integer in %.0f..%.0f", o->lo, o->hi);
    } else {
        char lo[32], hi[32];
        nn_format_double(lo, sizeof lo, o->lo);
        nn_format_double(hi, sizeof hi, o->hi);
        snprintf(buf, size, "a number in [%s, %s]", lo, hi);
    }
}

/* Stores value into o's destination; shown is the option as typed. */
static NnStatus store(const CliOption *o, const char *shown, const char *value, NnError *err)
{
    char *end;
    char range[96];
    switch (o->kind) {
    case CLI_FLAG: *(int *)o->dest = 1; return NN_OK;
    case CLI_INT: {
        errno = 0;
        long v = strtol(value, &end, 10);
        if (end == value || *end || errno || v < o->lo || v > o->hi) break;
        *(int *)o->dest = (int)v;
        return NN_OK;
    }
    case CLI_DOUBLE: {
        double v = strtod(value, &end);
        if (end == value || *end || !isfinite(v) || v < o->lo || v > o->hi) break;
        *(double *)o->dest = v;
        return NN_OK;
    }
    case CLI_PATH:
        if (!*value)
            return nn_error_set(err, NN_ERR_INPUT, "%s: expected a %s, found \"\"", shown,
                                o->metavar && !strcmp(o->metavar, "DIR") ? "directory"
                                                                          : "file name");
        /* fall through */
    case CLI_STRING: *(const char **)o->dest = value; return NN_OK;
    case CLI_CALL: return o->call(o->dest, shown, value, err);
    }
    describe_range(o, range, sizeof range);
    return nn_error_set(err, NN_ERR_INPUT, "%s: expected %s, found \"%s\"", shown, range, value);
}

/* An unknown option: its message, with the closest known name. */
static void unknown_option(const CliCommand *cmd, const char *arg, NnError *err)
{
    char word[64];
    size_t len = strcspn(arg, "=");
    const char *name = arg + (arg[1] == '-' ? 2 : 1);
    len -= (size_t)(name - arg);
    if (len >= sizeof word) len = sizeof word - 1;
    memcpy(word, name, len);
    word[len] = '\0';
    NnSuggest near;
    nn_suggest_init(&near, word);
    for (int i = 0; i < cmd->n_opts + cmd->n_more; i++)
        nn_suggest_offer(&near, option_at(cmd, i)->name);
    nn_suggest_offer(&near, "help");
    if (near.best) {
        char best[64];
        snprintf(best, sizeof best, "%s", near.best);
        for (char *p = best; *p; p++)
            if (*p == '_') *p = '-';
        nn_error_set(err, NN_ERR_INPUT, "unknown option '%.*s' (did you mean --%s? see --help)",
                     (int)strcspn(arg, "="), arg, best);
    } else {
        nn_error_set(err, NN_ERR_INPUT, "unknown option '%.*s' (see --help)",
                     (int)strcspn(arg, "="), arg);
    }
}

/* Handles option argv[*i] (advancing *i past a value it takes). */
static NnStatus parse_option(const CliCommand *cmd, int argc, char **argv, int *i, NnError *err)
{
    const char *arg = argv[*i];
    const char *name = arg + 2, *eq = strchr(arg, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const CliOption *o = NULL;
    for (int k = 0; arg[1] == '-' && k < cmd->n_opts + cmd->n_more && !o; k++)
        if (name_is(option_at(cmd, k)->name, name, len)) o = option_at(cmd, k);
    if (!o) {
        unknown_option(cmd, arg, err);
        return NN_ERR_INPUT;
    }
    char shown[80];
    snprintf(shown, sizeof shown, "%.*s", (int)(len + 2), arg);
    const char *value = eq ? eq + 1 : NULL;
    const char *next = *i + 1 < argc ? argv[*i + 1] : NULL;
    if (o->kind == CLI_FLAG) {
        if (value)
            return nn_error_set(err, NN_ERR_INPUT, "%s: takes no value, found \"%s\"", shown,
                                value);
    } else if (!value && o->bool_value) {
        if (next && is_bool_word(next)) value = argv[++*i];
    } else if (!value) {
        if (!next || !strncmp(next, "--", 2))
            return nn_error_set(err, NN_ERR_INPUT, "%s: expected a value after it%s%s", shown,
                                next ? ", found the option " : "", next ? next : "");
        value = argv[++*i];
    }
    return store(o, shown, value, err);
}

int cli_parse(const CliCommand *cmd, int argc, char **argv, const char **args, int *n_args,
              int quiet)
{
    *n_args = 0;
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (is_help(argv[i])) {
            if (!quiet) cli_usage(cmd, stdout);
            return 0;
        }
    }
    NnError err = {{0}};
    NnStatus st = NN_OK;
    int options = 1;
    for (int i = 1; i < argc && st == NN_OK; i++) {
        const char *a = argv[i];
        if (options && !strcmp(a, "--")) {
            options = 0;
        } else if (options && a[0] == '-' && a[1] != '\0') {
            st = parse_option(cmd, argc, argv, &i, &err);
        } else if (cmd->max_args >= 0 && *n_args >= cmd->max_args) {
            st = nn_error_set(&err, NN_ERR_INPUT, "unexpected argument '%s' (see --help)", a);
        } else {
            args[(*n_args)++] = a;
        }
    }
    if (st == NN_OK && *n_args < cmd->min_args)
        st = nn_error_set(&err, NN_ERR_INPUT, "expected %s (see --help)", cmd->args_what);
    if (st == NN_OK) return -1;
    if (!quiet) fprintf(stderr, "nnsweep %s: %s\n", cmd->name, err.msg);
    return 2;
}

/* ---- usage ---------------------------------------------------------------- */

/* "--name METAVAR" (the name with dashes). */
static void left_column(const char *name, const char *metavar, char *buf, size_t size)
{
    int n = snprintf(buf, size, "--%s%s%s", name, metavar ? " " : "", metavar ? metavar : "");
    for (int i = 2; i < n && i < (int)size && buf[i] != ' '; i++)
        if (buf[i] == '_') buf[i] = '-';
}

/* Prints text from column col (the cursor stands at col), wrapped at
 * USAGE_WIDTH, each further line indented to col. */
static void print_wrapped(FILE *out, const char *text, int col)
{
    int at = col;
    while (*text) {
        while (*text == ' ') text++;
        size_t w = strcspn(text, " ");
        if (!w) break;
        if (at > col && at + 1 + (int)w > USAGE_WIDTH) {
            fprintf(out, "\n%*s", col, "");
            at = col;
        }
        if (at > col) {
            fputc(' ', out);
            at++;
        }
        fwrite(text, 1, w, out);
        at += (int)w;
        text += w;
    }
    fputc('\n', out);
}

static void print_option(FILE *out, const char *name, const char *metavar, const char *help,
                         int col)
{
    char left[96];
    left_column(name, metavar, left, sizeof left);
    int n = fprintf(out, "  %s", left);
    if (n + 2 > col)
        fprintf(out, "\n%*s", col, "");
    else
        fprintf(out, "%*s", col - n, "");
    print_wrapped(out, help, col);
}

/* The help of o with its default appended (destination not 0 or NULL). */
static void help_text(const CliOption *o, NnBuf *out)
{
    nn_buf_printf(out, "%s", o->help);
    switch (o->kind) {
    case CLI_INT:
        if (*(int *)o->dest) nn_buf_printf(out, " (default %d)", *(int *)o->dest);
        break;
    case CLI_DOUBLE:
        if (*(double *)o->dest != 0) nn_buf_printf(out, " (default %g)", *(double *)o->dest);
        break;
    case CLI_STRING:
    case CLI_PATH:
        if (*(const char **)o->dest) nn_buf_printf(out, " (default %s)", *(const char **)o->dest);
        break;
    default: break;
    }
}

void cli_usage(const CliCommand *cmd, FILE *out)
{
    int n = cmd->n_opts + cmd->n_more, col = 0;
    for (int i = 0; i < n; i++) {
        char left[96];
        left_column(option_at(cmd, i)->name, option_at(cmd, i)->metavar, left, sizeof left);
        int w = 2 + (int)strlen(left) + 2;
        if (w > col && w <= USAGE_MAX_COLUMN) col = w;
    }
    if (col < 12) col = 12;
    fprintf(out, "usage: nnsweep %s%s%s [options]\n", cmd->name, *cmd->args ? " " : "",
            cmd->args);
    if (cmd->about) fputs(cmd->about, out);
    fprintf(out, "\noptions:\n");
    for (int i = 0; i <= n; i++) {
        if (i == cmd->n_opts) print_option(out, "help", NULL, "this text", col);
        if (i == n) break;
        const CliOption *o = option_at(cmd, i);
        if (o->section) {
            fputc('\n', out);
            print_wrapped(out, o->section, 0);
        }
        NnBuf help = {0};
        help_text(o, &help);
        print_option(out, o->name, o->metavar, help.data, col);
        nn_buf_free(&help);
    }
    if (cmd->epilog) fprintf(out, "\n%s", cmd->epilog);
}
