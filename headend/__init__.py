"""headend package."""
