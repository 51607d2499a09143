"""The `msa` command."""
