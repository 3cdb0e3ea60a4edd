/*
 * A long-tail batch: SHORT processes of SHORT_UNITS work and LONG processes of
 * LONG_UNITS, all started at once. Reports the makespan (until the last one ends) and
 * the mean completion time, the two things a batch scheduler trades against each other.
 * With BATCHES, the batch runs that many times, one after another, as in SchedCP's batch
 * evaluation: the makespan is then the total, each job's completion counts from its own
 * batch's start, and the median batch makespan is reported too.
 * Usage: longtail SHORT SHORT_UNITS LONG LONG_UNITS [BATCHES]
 */
#include <sys/wait.h>
#include <unistd.h>
#include "common.h"

#define UNIT 100000

/* Runs one batch; returns its makespan and adds its jobs' completion times to *sum. */
static uint64_t batch(int shorts, uint64_t short_units, int longs, uint64_t long_units, uint64_t *sum)
{
	uint64_t started = now_ns(), last = 0;

	for (int i = 0; i < shorts + longs; i++) {
		if (fork() == 0) {
			burn((i < longs ? long_units : short_units) * UNIT);
			_exit(0);
		}
	}
	for (int i = 0; i < shorts + longs; i++) {
		wait(NULL);
		last = now_ns() - started;
		*sum += last;
	}
	return last;
}

int main(int argc, char **argv)
{
	int shorts = argc > 1 ? atoi(argv[1]) : 16, longs = argc > 3 ? atoi(argv[3]) : 1;
	uint64_t short_units = argc > 2 ? strtoull(argv[2], 0, 10) : 20;
	uint64_t long_units = argc > 4 ? strtoull(argv[4], 0, 10) : 300;
	int batches = argc > 5 ? atoi(argv[5]) : 1, total = shorts + longs;

	if (batches < 1 || total < 1) {
		fprintf(stderr, "usage: longtail SHORT SHORT_UNITS LONG LONG_UNITS [BATCHES]\n");
		return 2;
	}
	uint64_t makespans[batches], completion_sum = 0, started = now_ns();

	for (int b = 0; b < batches; b++)
		makespans[b] = batch(shorts, short_units, longs, long_units, &completion_sum);
	uint64_t makespan = now_ns() - started;

	qsort(makespans, batches, sizeof(uint64_t), cmp_u64);
	printf("{\"workload\":\"longtail\",\"jobs\":%d,\"batches\":%d,\"makespan_ms\":%.1f,\"mean_completion_ms\":%.1f,"
	       "\"batch_makespan_p50_ms\":%.1f}\n",
	       total, batches, makespan / 1e6, completion_sum / 1e6 / total / batches,
	       percentile(makespans, batches, 0.5) / 1e6);
	return 0;
}
