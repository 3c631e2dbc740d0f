"""Configuration: typed models, YAML loading with line-accurate errors."""
