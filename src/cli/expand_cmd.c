/* expand_cmd.c - `nnsweep expand FILE...`: the runs that sweep files expand
 * into (with the overrides `nnsweep sweep` takes), with ids and cost
 * estimates, without touching data or results. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "nnsweep/sweep.h"

static const char expand_about[] =
    "\n"
    "Reads sweep files (W&B sweep YAML: method grid or random, metric, parameters;\n"
    "several YAML documents in a file are several sweeps) and prints what they expand\n"
    "into: per sweep a header (name, file:line, method, metric, number of runs), then\n"
    "one line per run with its number, id, estimated training flops and the\n"
    "parameters that vary within the sweep, then the total. Nothing is trained and no\n"
    "data or results file is read. Notices (ignored W&B keys, duplicate runs dropped)\n"
    "go to stderr. With the same overrides it lists exactly the runs that\n"
    "`nnsweep sweep` runs.\n";

static const char expand_epilog[] =
    "Exit codes: 0 ok, 2 usage or input error (one message naming file:line and key).\n";

/* A program sweep: its command and each run's config as the program gets
 * it (the JSON of ${args_json}). */
static void print_program_sweep(const Sweep *s)
{
    const ProgramSpec *p = s->program;
    printf("sweep %s  %s:%d  %s", s->name, s->file, s->line, sweep_method_name(s->method));
    if (s->method == SWEEP_RANDOM) printf(" (count %d)", s->count);
    printf("  metric %s (%s)  %d run%s\n", s->metric_name ? s->metric_name : "none",
           sweep_goal_name(s->goal), s->n_runs, s->n_runs == 1 ? "" : "s");
    printf("  program %s  in %s  command", p->program ? p->program : "-", p->dir);
    if (!p->n_command) printf(" ${env} ${interpreter} ${program} ${args}");
    for (int i = 0; i < p->n_command; i++) printf(" %s", p->command[i]);
    printf("\n");
    for (int r = 0; r < s->n_runs; r++)
        printf("  %4d  %s  %s\n", r + 1, s->runs[r].id, s->runs[r].json);
}

static void print_sweep(const Sweep *s, int json)
{
    if (s->program) {
        print_program_sweep(s);
        return;
    }
    double cost = 0;
    for (int r = 0; r < s->n_runs; r++) cost += s->runs[r].cost;
    printf("sweep %s  %s:%d  %s", s->name, s->file, s->line, sweep_method_name(s->method));
    if (s->method == SWEEP_RANDOM) printf(" (count %d)", s->count);
    printf("  metric %s (%s)  %d run%s  %.2g training flops\n", sweep_metric_name(s->metric),
           sweep_goal_name(s->goal), s->n_runs, s->n_runs == 1 ? "" : "s", cost);
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
}

int cli_expand(int argc, char **argv)
{
    int json = 0;
    SweepOverrides over = {0};
    const CliOption opts[] = {
        {.name = "json", .kind = CLI_FLAG, .dest = &json,
         .help = "also print each run's full canonical config JSON"},
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
    for (int i = 0; i < set.n_sweeps; i++) {
        if (i) printf("\n");
        print_sweep(&set.sweeps[i], json);
        for (int r = 0; !set.sweeps[i].program && r < set.sweeps[i].n_runs; r++)
            cost += set.sweeps[i].runs[r].cost;
    }
    printf("\ntotal: %d run%s in %d sweep%s, %.2g training flops\n", set.n_runs,
           set.n_runs == 1 ? "" : "s", set.n_sweeps, set.n_sweeps == 1 ? "" : "s", cost);
    sweep_set_free(&set);
    return 0;
}
