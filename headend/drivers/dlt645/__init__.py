"""DL/T 645-2007/1997 meters on RS-485 and through transparent gateways."""
