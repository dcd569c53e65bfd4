"""Protocol readers: turn "read these quantities of this meter" into bus traffic and readings."""
