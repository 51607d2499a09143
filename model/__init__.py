"""Model inference: config, tokenizer and prompts, decoder, MSA routing and attention, LoRA adapters, generation.
`checkpoints/` loads and imports weights; `train/` makes data and trains routers and adapters."""

from msa.model.host_memory import keep_freed_memory

# glibc fixes how many malloc arenas there may be once threads start taking them: tuned at import, before any
# thread allocates, or a worker thread's forward maps and unmaps its large temporaries (`host_memory`)
keep_freed_memory()
