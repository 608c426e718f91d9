"""Developer tools: the offline mock engine and `make synth`."""
