"""Every differentiable op, one small ``Function`` subclass each, grouped by kind."""
