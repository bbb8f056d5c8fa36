"""pytest wiring for pytest-llmeval: options, markers, fixtures and hooks."""
