"""pytest-llmeval: evaluate customized Mistral models as ordinary pytest tests."""
