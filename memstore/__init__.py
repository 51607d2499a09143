"""The memory store: LMDB records and tensor blobs bound to one model (`Store`), and what builds on it."""
