"""The pieces of bench/compare: processes, the limit, load, machine facts, report, plot."""
