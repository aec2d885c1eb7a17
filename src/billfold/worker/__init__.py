"""Background loops: the scheduler that finds due billing work, and later webhook delivery."""
