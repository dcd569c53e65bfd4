"""Collection KPIs (日采集成功率): per meter and day outcomes, their roll-ups, their store."""
