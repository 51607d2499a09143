"""LMDB memory store, routing index paging, engine and gRPC servicer (arrives with the store issue)."""
