/*
 * Wakeup-heavy ping-pong, in the spirit of `perf bench sched pipe`: PAIRS pairs of
 * threads pass one byte back and forth over two pipes for DURATION_MS. Every hop is a
 * sleep and a wakeup, so the result, round trips per second in all, measures how fast a
 * scheduler wakes a task and puts it on a CPU, and nothing else.
 * Usage: pingpong DURATION_MS PAIRS
 */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>
#include "common.h"

static uint64_t deadline;
static atomic_uint_fast64_t round_trips;
static atomic_int stop;

struct pair {
	int ping[2], pong[2];
};

/* Answers every byte until the pinger closes its end. */
static void *ponger(void *arg)
{
	struct pair *p = arg;
	char byte;

	while (read(p->ping[0], &byte, 1) == 1)
		if (write(p->pong[1], &byte, 1) != 1)
			break;
	return NULL;
}

static void *pinger(void *arg)
{
	struct pair *p = arg;
	uint64_t count = 0;
	char byte = 'x';

	/* The clock is read every 64 round trips: cheap next to two context switches. */
	while (!atomic_load(&stop)) {
		if (write(p->ping[1], &byte, 1) != 1 || read(p->pong[0], &byte, 1) != 1)
			break;
		if (++count % 64 == 0 && now_ns() >= deadline)
			atomic_store(&stop, 1);
	}
	atomic_fetch_add(&round_trips, count);
	close(p->ping[1]);
	return NULL;
}

int main(int argc, char **argv)
{
	uint64_t duration = argc > 1 ? strtoull(argv[1], 0, 10) : 2000;
	int pairs = argc > 2 ? atoi(argv[2]) : 1;
	pthread_t threads[2 * pairs];
	struct pair p[pairs];
	uint64_t started = now_ns();

	deadline = started + duration * 1000000;
	for (int i = 0; i < pairs; i++) {
		if (pipe(p[i].ping) || pipe(p[i].pong)) {
			perror("pipe");
			return 1;
		}
		pthread_create(&threads[2 * i], NULL, ponger, &p[i]);
		pthread_create(&threads[2 * i + 1], NULL, pinger, &p[i]);
	}
	for (int i = 0; i < 2 * pairs; i++)
		pthread_join(threads[i], NULL);
	printf("{\"workload\":\"pingpong\",\"pairs\":%d,\"round_trips_per_s\":%.1f}\n", pairs,
	       atomic_load(&round_trips) * 1e9 / (double)(now_ns() - started));
	return 0;
}
