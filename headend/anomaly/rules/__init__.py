"""Pure numpy rules over fleet arrays: arrays in, masks and values out, no state, no loops."""
