"""Decisions: the page-view entry point, the decider, the policy and its rules, carousels,
experiments, and the reloader that swaps in a new model or policy."""
