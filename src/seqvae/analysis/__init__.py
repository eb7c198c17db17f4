"""Analysis of trained models: likelihood evaluation, distribution distances, latent diagnostics."""
