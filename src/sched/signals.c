/* signals.c - stop signals: SIGTERM (Slurm preemption, scancel, mpirun
 * forwarding), SIGINT (Ctrl-C), SIGUSR1/SIGUSR2 (sbatch --signal before the
 * time limit). The handler only records the signal; the drivers poll it. */
#include <string.h>

#include "proto.h"

volatile sig_atomic_t sched_stop_signal;

static void on_signal(int sig) { sched_stop_signal = sig; }

void sched_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    int sigs[] = {SIGTERM, SIGINT, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
}
