/* row_logger.c - a program for program sweeps' benchmarks (bench/README.md,
 * "Programs"): writes rows to nnsweep's channel ($NNSWEEP_FD) as fast as it
 * can, each its own line and write(2).
 *
 *   row_logger [--rows N] [--names K] [--pause-us U]   (W&B's --name=value too)
 *
 * Row i: {"log": {"t": T, "v1": ..., "vK-1": ...}, "step": i} where T is
 * CLOCK_REALTIME when the row is written; the first row also carries
 * "t_main", CLOCK_REALTIME when main() began. --pause-us: sleep that long
 * after each row (0: none). Defaults: 1000 rows, 4 names, no pause.
 * Exit 0, or 1 when the channel is missing or a write fails. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double realtime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* --name N or --name=N */
static long option(int argc, char **argv, const char *name, long def)
{
    size_t n = strlen(name);
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], name, n) != 0) continue;
        if (argv[i][n] == '=') return strtol(argv[i] + n + 1, NULL, 10);
        if (!argv[i][n] && i + 1 < argc) return strtol(argv[i + 1], NULL, 10);
    }
    return def;
}

int main(int argc, char **argv)
{
    double t_main = realtime();
    long rows = option(argc, argv, "--rows", 1000), names = option(argc, argv, "--names", 4);
    long pause = option(argc, argv, "--pause_us", option(argc, argv, "--pause-us", 0));
    const char *fd_text = getenv("NNSWEEP_FD");
    if (!fd_text) {
        fprintf(stderr, "row_logger: NNSWEEP_FD is not set (run it from nnsweep)\n");
        return 1;
    }
    int fd = atoi(fd_text);
    char line[4096];
    for (long i = 0; i < rows; i++) {
        int n = snprintf(line, sizeof line, "{\"log\": {\"t\": %.6f", realtime());
        if (i == 0) n += snprintf(line + n, sizeof line - (size_t)n, ", \"t_main\": %.6f", t_main);
        for (long k = 1; k < names && n < (int)sizeof line - 64; k++)
            n += snprintf(line + n, sizeof line - (size_t)n, ", \"v%ld\": %.17g", k,
                          (double)i / (double)k);
        n += snprintf(line + n, sizeof line - (size_t)n, "}, \"step\": %ld}\n", i);
        if (write(fd, line, (size_t)n) != n) {
            perror("row_logger: write");
            return 1;
        }
        if (pause > 0) {
            struct timespec ts = {pause / 1000000, pause % 1000000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    return 0;
}
