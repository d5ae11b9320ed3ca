"""The loop generator (issue 16): tempo-conditioned latent diffusion of loops. So far its data
(``loop_set``), its tempo measure (``tempo``) and its diffusion mathematics (``iadb``); the
autoencoder, the network and ``generate-loops`` are not built (docs/loops.md)."""
