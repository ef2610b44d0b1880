"""Placeholder while the embedded models are written; replaced in the same change."""
