"""Super-resolution: SRResNet / SRGAN (Ledig et al. 2017)."""
