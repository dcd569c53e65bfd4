"""The transformer area (台区): figures over a transformer's meters, sans-IO.

``supply.py`` finds the energy supplied at the transformer in a day (its LV-side meter's
register at the two day boundaries); ``line_loss.py`` weighs it against the customers' meters
and says how far the figure can be trusted and which meters to look at (docs/line-loss.md).
"""
