"""Training loops of the papers: preference pairs, PPM training, Step-APO, self-evolution."""
