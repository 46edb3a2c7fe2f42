"""axilla: axillary lymph-node metastasis study pipeline (science lives here; rules are thin)."""

__version__ = "0.1.0"
