"""Search algorithms over one MCTS core (rStar-Math, CPL) and a best-first prover (LIPS)."""
