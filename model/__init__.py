"""Model inference: config, tokenizer and prompts, decoder, MSA routing and attention, LoRA adapters, generation.
`checkpoints/` loads and imports weights; `train/` makes data and trains routers and adapters."""
