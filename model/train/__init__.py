"""Training: generated data (people, everyday agent memories, general text) and the router, routing-adapter and
reader-adapter training loops."""
