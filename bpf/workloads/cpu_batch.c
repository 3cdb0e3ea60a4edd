/*
 * CPU throughput: THREADS threads burn fixed units of work for DURATION_MS; the result
 * is units per second in all, the measure a batch workload cares about.
 * Usage: cpu_batch DURATION_MS THREADS
 */
#include <pthread.h>
#include <stdatomic.h>
#include "common.h"

static uint64_t deadline;
static atomic_uint_fast64_t units;

static void *run(void *arg)
{
	while (now_ns() < deadline) {
		burn(100000);
		atomic_fetch_add(&units, 1);
	}
	return arg;
}

int main(int argc, char **argv)
{
	uint64_t duration = argc > 1 ? strtoull(argv[1], 0, 10) : 2000;
	int count = argc > 2 ? atoi(argv[2]) : 4;
	pthread_t threads[count];
	uint64_t started = now_ns();

	deadline = started + duration * 1000000;
	for (int i = 0; i < count; i++)
		pthread_create(&threads[i], NULL, run, NULL);
	for (int i = 0; i < count; i++)
		pthread_join(threads[i], NULL);
	printf("{\"workload\":\"cpu_batch\",\"threads\":%d,\"units_per_s\":%.1f}\n", count,
	       atomic_load(&units) * 1e9 / (double)(now_ns() - started));
	return 0;
}
