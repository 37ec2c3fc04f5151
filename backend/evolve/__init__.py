"""Self-evolution: rStar-Math's rounds of search → data → fine-tuning → evaluation (docs/EVOLVE.md)."""
