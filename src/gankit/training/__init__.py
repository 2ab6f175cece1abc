"""The training loop and what it needs: phases, EMA, checkpoints, stats, run directories."""
