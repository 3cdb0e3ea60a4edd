"""The sched-agent: turns a workload profile and a goal into a scheduler revision.

Four roles (observation, planning, execution, learning) over one set of typed tools,
driven by Claude through the anthropic SDK or by the deterministic offline planner.
"""
