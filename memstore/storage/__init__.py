"""Storage: the LMDB store (namespaces, documents, blobs of pooled K/V and routing keys), its record and blob
formats, and maintenance (check, compact, backup)."""
