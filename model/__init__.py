"""Model code: config, checkpoint loading, tokenizer and prompts, decoder, MSA attention, generation."""
