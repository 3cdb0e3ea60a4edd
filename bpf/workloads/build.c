/*
 * A parallel build, in the spirit of `make -j JOBS` running a compiler: TASKS short-lived
 * processes, at most JOBS at a time, each a fork and an exec of this program
 * (`build --task UNITS`) that burns UNITS units of 10000 iterations and exits. Task i's
 * size is drawn from [UNITS_MIN, UNITS_MAX] by a hash of i, so every run builds the same
 * tasks. One JSON line: the makespan, tasks per second, and the mean turnaround (fork to
 * reaped) of a task, which grows when new processes wait behind running ones.
 * Usage: build TASKS JOBS UNITS_MIN UNITS_MAX
 */
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "common.h"

#define UNIT 10000

/* splitmix64: a well-spread, seedable hash of the task index. */
static uint64_t task_units(uint64_t index, uint64_t low, uint64_t high)
{
	uint64_t z = (index + 1) * 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return low + (z ^ (z >> 31)) % (high - low + 1);
}

struct slot {
	pid_t pid; /* 0 when the slot is free */
	uint64_t forked;
};

/* Forks task `index` into `slot`: the child re-executes this program as a task. */
static void spawn(struct slot *slot, uint64_t index, uint64_t low, uint64_t high)
{
	char units[24];

	snprintf(units, sizeof(units), "%lu", task_units(index, low, high));
	slot->forked = now_ns();
	slot->pid = fork();
	if (slot->pid == 0) {
		execl("/proc/self/exe", "build", "--task", units, (char *)NULL);
		_exit(127);
	}
}

int main(int argc, char **argv)
{
	if (argc > 2 && strcmp(argv[1], "--task") == 0) {
		burn(strtoull(argv[2], 0, 10) * UNIT);
		return 0;
	}
	int tasks = argc > 1 ? atoi(argv[1]) : 200, jobs = argc > 2 ? atoi(argv[2]) : 4;
	uint64_t low = argc > 3 ? strtoull(argv[3], 0, 10) : 10, high = argc > 4 ? strtoull(argv[4], 0, 10) : 40;

	if (tasks < 1 || jobs < 1 || high < low) {
		fprintf(stderr, "usage: build TASKS JOBS UNITS_MIN UNITS_MAX\n");
		return 2;
	}
	struct slot slots[jobs];
	uint64_t started = now_ns(), turnaround = 0;
	int launched = 0, finished = 0, status;
	pid_t pid;

	for (int i = 0; i < jobs; i++)
		slots[i].pid = 0;
	for (; launched < tasks && launched < jobs; launched++)
		spawn(&slots[launched], launched, low, high);
	/* Every reaped task frees its slot for the next one, as make does. */
	while ((pid = wait(&status)) > 0) {
		struct slot *slot = slots;

		while (slot->pid != pid)
			slot++;
		turnaround += now_ns() - slot->forked;
		finished += WIFEXITED(status) && WEXITSTATUS(status) == 0;
		slot->pid = 0;
		if (launched < tasks)
			spawn(slot, launched++, low, high);
	}
	uint64_t makespan = now_ns() - started;

	printf("{\"workload\":\"build\",\"tasks\":%d,\"jobs\":%d,\"finished\":%d,\"makespan_ms\":%.1f,"
	       "\"tasks_per_s\":%.1f,\"mean_turnaround_ms\":%.2f}\n",
	       tasks, jobs, finished, makespan / 1e6, finished * 1e9 / (double)makespan,
	       turnaround / 1e6 / launched);
	return 0;
}
