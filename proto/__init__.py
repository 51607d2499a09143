"""The gRPC contract `msa.memory.v1` and its generated stubs (arrives with the service issue)."""
