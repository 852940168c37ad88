"""The multi-step jobs the CLI commands run: the demo, a benchmark, a comparison of profiles,
the transfer table and the external-cohort evaluation. Each takes plain settings and paths,
reports through a log callback and writes run folders; ``gait2hip.cli`` only parses options
and calls them."""
