"""The improvement loop: model cards, contamination, failure rows, clusters, the ledger."""

#: The `--llm-baseline` value that takes the baseline from the ledger. Here rather than in
#: `ledger`, so that the options read it at every start-up without importing the ledger.
LAST_PASSED = "ledger:last-passed"
