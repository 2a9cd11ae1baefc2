"""The code-generation agent: its tools, its prompt and its loop."""
