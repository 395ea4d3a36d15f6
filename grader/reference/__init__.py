"""Where the expected outcomes come from: the interface, the live solutions, a recording."""
