"""The judge and moderation fixtures' back ends."""
