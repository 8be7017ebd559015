"""Images: the MNIST readers and bundled digits, MNIST models (train → evaluate), the digit judge,
conditional generation, the ELBO's anatomy and AE vs VAE."""
