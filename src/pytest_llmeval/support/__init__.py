"""Small pieces several packages share: atomic writes, paths, lazy attributes, redaction."""
