"""Canopy web UI (Gradio). Consumes backend events only."""
