"""What users type: one module per command family. Each registers itself on import."""
