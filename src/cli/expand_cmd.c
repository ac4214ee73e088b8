/* expand_cmd.c - `nnsweep expand FILE...`: the runs that sweep files expand
 * into (with the overrides `nnsweep sweep` takes), with ids and cost
 * estimates, without touching data or results. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "nnsweep/sweep.h"

static const char expand_about[] =
    "\n"
    "Reads sweep files (W&B sweep YAML; several YAML documents in a file are several\n"
    "sweeps) and prints what they do: per sweep a header (name, file:line, method,\n"
    "metric, number of runs), the hyperband rungs of early_terminate, then for grid\n"
    "and random with a run_cap one line per run with its number, id, estimated\n"
    "training flops and the parameters that vary within the sweep; for bayes and\n"
    "random without a run_cap, which add runs as results come in, the searched space\n"
    "and the first runs the sweep hands out before any result (bayes: its initial\n"
    "design). Nothing is trained and no data or results file is read. Notices\n"
    "(ignored W&B keys, duplicate runs dropped) go to stderr. With the same overrides\n"
    "it lists exactly the runs that `nnsweep sweep` starts with.\n";

static const char expand_epilog[] =
    "Exit codes: 0 ok, 2 usage or input error (one message naming file:line and key).\n";

/* A program sweep: its command and each run's config as the program gets
 * it (the JSON of ${args_json}). */
static int print_program_sweep(Sweep *s, int n_proposals)
{
    const ProgramSpec *p = s->program;
    printf("sweep %s  %s:%d  %s", s->name, s->file, s->line, sweep_method_name(s->method));
    int search = s->strategy->adopt != NULL;
    if (s->run_cap > 0) printf(" (run_cap %d)", s->run_cap);
    printf("  metric %s (%s)", s->metric_name ? s->metric_name : "none", sweep_goal_name(s->goal));
    if (!isnan(s->target)) printf(" target %g", s->target);
    if (search)
        printf("  runs proposed as results come in%s\n", s->run_cap ? "" : ", until stopped");
    else
        printf("  %d run%s\n", s->n_runs, s->n_runs == 1 ? "" : "s");
    printf("  program %s  in %s  command", p->program ? p->program : "-", p->dir);
    if (!p->n_command) printf(" ${env} ${interpreter} ${program} ${args}");
    for (int i = 0; i < p->n_command; i++) printf(" %s", p->command[i]);
    printf("\n");
    NnBuf text = {0};
    sweep_describe(s, n_proposals, &text);
    if (text.len) fputs(text.data, stdout);
    nn_buf_free(&text);
    if (search) return s->run_cap;
    for (int r = 0; r < s->n_runs; r++)
        printf("  %4d  %s  %s\n", r + 1, s->runs[r].id, s->runs[r].json);
    return s->n_runs;
}

/* Prints one sweep; returns its runs (list sweeps) or its run_cap. */
static int print_sweep(Sweep *s, int json, int n_proposals)
{
    if (s->program) return print_program_sweep(s, n_proposals);
    double cost = 0;
    for (int r = 0; r < s->n_runs; r++) cost += s->runs[r].cost;
    int search = s->strategy->adopt != NULL;
    printf("sweep %s  %s:%d  %s", s->name, s->file, s->line, sweep_method_name(s->method));
    if (s->run_cap > 0) printf(" (run_cap %d)", s->run_cap);
    printf("  metric %s (%s)", sweep_metric_name(s->metric), sweep_goal_name(s->goal));
    if (!isnan(s->target)) printf(" target %g", s->target);
    if (search)
        printf("  runs proposed as results come in%s\n", s->run_cap ? "" : ", until stopped");
    else
        printf("  %d run%s  %.2g training flops\n", s->n_runs, s->n_runs == 1 ? "" : "s", cost);
    NnBuf text = {0};
    sweep_describe(s, n_proposals, &text);
    if (text.len) fputs(text.data, stdout);
    nn_buf_free(&text);
    if (search) return s->run_cap;
    for (int r = 0; r < s->n_runs; r++) {
        const SweepRun *run = &s->runs[r];
        printf("  %4d  %s  %8.2g ", r + 1, run->id, run->cost);
        for (int j = 0; j < s->n_params; j++) {
            if (!s->params[j].varies) continue;
            NnBuf v = {0};
            config_value_json(&run->config, config_key_index(s->params[j].key), &v);
            printf(" %s=%s", s->params[j].key, v.data);
            nn_buf_free(&v);
        }
        printf("\n");
        if (json) printf("        %s\n", run->json);
    }
    return s->n_runs;
}

int cli_expand(int argc, char **argv)
{
    int json = 0, n_proposals = 0;
    SweepOverrides over = {0};
    const CliOption opts[] = {
        {.name = "json", .kind = CLI_FLAG, .dest = &json,
         .help = "also print each run's full canonical config JSON"},
        {.name = "proposals", .kind = CLI_INT, .dest = &n_proposals, .lo = 1, .hi = 1000,
         .metavar = "N",
         .help = "bayes and random without run_cap: show the first N runs (default: bayes's "
                 "initial design, 10 draws)"},
    };
    CliOption more[CLI_N_OVERRIDE_OPTIONS];
    cli_override_options(&over, more);
    const CliCommand cmd = {.name = "expand", .args = "FILE...",
                            .args_what = "at least one sweep file", .min_args = 1,
                            .max_args = -1, .about = expand_about, .epilog = expand_epilog,
                            .opts = opts, .n_opts = (int)(sizeof opts / sizeof opts[0]),
                            .more = more, .n_more = CLI_N_OVERRIDE_OPTIONS};
    const char **files = nn_malloc((size_t)(argc + 1) * sizeof *files);
    int n_files = 0;
    int code = cli_parse(&cmd, argc, argv, files, &n_files, 0);
    if (code >= 0) {
        free(files);
        sweep_overrides_free(&over);
        return code;
    }
    SweepSet set;
    NnError err = {{0}};
    NnStatus st = sweep_load_files(&set, files, n_files, &over, stderr, &err);
    free(files);
    sweep_overrides_free(&over);
    if (st != NN_OK) return cli_fail("expand", st, &err);
    double cost = 0;
    int n_runs = 0, unbounded = 0, n_search = 0;
    for (int i = 0; i < set.n_sweeps; i++) {
        Sweep *sw = &set.sweeps[i];
        if (i) printf("\n");
        int search = sw->strategy->adopt != NULL;
        for (int r = 0; r < sw->n_runs && !search && !sw->program; r++) cost += sw->runs[r].cost;
        n_runs += print_sweep(sw, json, n_proposals);
        unbounded += search && sw->run_cap == 0;
        n_search += search;
    }
    printf("\ntotal: %d run%s in %d sweep%s", n_runs, n_runs == 1 ? "" : "s", set.n_sweeps,
           set.n_sweeps == 1 ? "" : "s");
    if (unbounded) printf(" (and %d sweep%s without run_cap)", unbounded, unbounded == 1 ? "" : "s");
    printf(", %.2g training flops%s\n", cost, n_search ? " (of the grid and random ones)" : "");
    sweep_set_free(&set);
    return 0;
}
