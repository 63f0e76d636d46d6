"""bioimage-search: the application layer (configuration, command line, pipeline wiring)."""
