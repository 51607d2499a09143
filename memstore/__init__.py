"""The memory store: the engine (the one API over storage, index and model), the gRPC client, and its parts:
`storage/` (LMDB), `index/` (routing), `server/` (gRPC)."""
