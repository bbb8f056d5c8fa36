"""Model calls: one mistralai client on a background loop, the transports under it, replies."""
