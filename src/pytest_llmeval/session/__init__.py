"""The pytest side: options, markers, the eval session, prefetch, repeats, census, collector."""
