"""The routing index: routing keys in device slabs, sharded over ranks (Memory Parallel), batched routing, the
content cache, and the store-backed memory a model reads."""
