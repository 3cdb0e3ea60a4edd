/*
 * A long-tail batch: SHORT processes of SHORT_UNITS work and LONG processes of
 * LONG_UNITS, all started at once. Reports the makespan (until the last one ends) and
 * the mean completion time, the two things a batch scheduler trades against each other.
 * Usage: longtail SHORT SHORT_UNITS LONG LONG_UNITS
 */
#include <sys/wait.h>
#include <unistd.h>
#include "common.h"

#define UNIT 100000

int main(int argc, char **argv)
{
	int shorts = argc > 1 ? atoi(argv[1]) : 16, longs = argc > 3 ? atoi(argv[3]) : 1;
	uint64_t short_units = argc > 2 ? strtoull(argv[2], 0, 10) : 20;
	uint64_t long_units = argc > 4 ? strtoull(argv[4], 0, 10) : 300;
	uint64_t started = now_ns(), completion_sum = 0, last = 0;
	int total = shorts + longs;

	for (int i = 0; i < total; i++) {
		if (fork() == 0) {
			burn((i < longs ? long_units : short_units) * UNIT);
			_exit(0);
		}
	}
	for (int i = 0; i < total; i++) {
		wait(NULL);
		last = now_ns() - started;
		completion_sum += last;
	}
	printf("{\"workload\":\"longtail\",\"jobs\":%d,\"makespan_ms\":%.1f,\"mean_completion_ms\":%.1f}\n",
	       total, last / 1e6, completion_sum / 1e6 / total);
	return 0;
}
