"""The method: the CLIP backbone with VLRL, the Residual Learning loss and the Gradient-aware Residual Prototype bank."""
