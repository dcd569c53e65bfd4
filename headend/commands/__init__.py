"""Operator operations that change the fleet or a meter, audited before they act."""
