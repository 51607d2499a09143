"""The gRPC server: service (messages to engine calls), gate (decoding, errors), auth, config, metrics, logs,
bounded pools and write batching."""
