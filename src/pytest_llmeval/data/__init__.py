"""Data files: JSONL datasets as cases, the fine-tuning row rules, overlap, check-data."""
