"""What the API, the CLI and the worker share: business operations over the data layer (julia/data)."""
