"""Named pipeline assemblies built from streamdeblur stages; the CLI runs them by name."""
