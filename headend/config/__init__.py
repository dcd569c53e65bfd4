"""The fleet configuration: files in, validated typed settings out."""
