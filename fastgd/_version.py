"""fastgd's version (what saved models record)."""

__version__ = "0.1.0"
